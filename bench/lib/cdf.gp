# cdf.gp: per-node completion CDF for bench/ondemand.
#   gnuplot -e "datafile='D'; outfile='O.png'; titles='a b c'; n=3; heading='...'" cdf.gp
# D holds one block per system (blocks separated by two blank lines), rows "seconds fraction";
# a system whose nodes did not all finish stops below 1.
set terminal pngcairo size 1000,600 font ",11"
set output outfile
set title heading
set xlabel "seconds from the start gate until the node has read its libraries (log scale)"
set ylabel "fraction of nodes done"
set yrange [0:1.05]
set logscale x 10
set xrange [*:*]
set format x "%g"
set grid
set key bottom right box opaque
set style data steps
plot for [i=0:n-1] datafile index i using 1:2 with steps lw 2 title word(titles, i+1)
