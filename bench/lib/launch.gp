# launch.gp: start-up time against the number of nodes for bench/launch.
#   gnuplot -e "datafile='D'; outfile='O.png'; titles='a b c'; n=3; heading='...'" launch.gp
# D holds one block per configuration (blocks separated by two blank lines), rows
# "N median min max" (seconds; min and max over the rounds).
set terminal pngcairo size 1000,600 font ",11"
set output outfile
set title heading font ",10"
set xlabel "nodes N"
set ylabel "start-up time, gate to last process done (s, log scale)"
set logscale y 10
set format y "%g"
set xrange [0:*]
set offsets 0, 1, 0, 0
set grid
set key top left box opaque
plot for [i=0:n-1] datafile index i using 1:2:3:4 with yerrorlines lw 2 pt 7 title word(titles, i+1)
