# offload_release.gp: bench/offload release part.
#   gnuplot -e "datafile='D'; outfile='O.png'; heading='...'" offload_release.gp
# D holds four blocks (separated by two blank lines): direct, release, fluid bound, pull;
# rows "MiB median min max" (seconds).
set terminal pngcairo size 1000,600 font ",11"
set output outfile
set title heading font ",10"
set xlabel "result size (MiB)"
set ylabel "seconds (log scale)"
set logscale y 10
set logscale x 2
set format y "%g"
set xrange [*:*]
set offsets graph 0.05, graph 0.05, 0, 0
set grid
set key top left box opaque
plot datafile index 0 using 1:2:3:4 with yerrorlines lw 2 pt 7 title "direct (curl, center -> user site)", \
     datafile index 1 using 1:2:3:4 with yerrorlines lw 2 pt 5 title "release (bitlib offload push, durable on depots)", \
     datafile index 2 using 1:2 with linespoints lw 1 dt 2 pt 1 title "fluid bound S*M/K / sum of the chosen depots' rates", \
     datafile index 3 using 1:2:3:4 with yerrorlines lw 2 pt 9 title "pull at the user site (bitlib offload pull)"
