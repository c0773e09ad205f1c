# offload_deadline.gp: bench/offload deadline part (the paper's Figure 6).
#   gnuplot -e "datafile='D'; outfile='O.png'; t2=8; t3=18; dl=60; heading='...'" offload_deadline.gp
# D rows "t N1 N2 N3 N4 total" (Mbit/s the center sent to each depot in the second around t).
set terminal pngcairo size 1000,600 font ",11"
set output outfile
set title heading font ",10"
set xlabel "seconds since the push started"
set ylabel "center -> depot (Mbit/s)"
set yrange [0:*]
set xrange [0:dl + 5]
set grid
set key top right box opaque
set arrow from t2, graph 0 to t2, graph 1 nohead dt 2 lc rgb "gray40"
set label "N1 throttled" at t2, graph 0.97 offset 0.5, 0 font ",9"
set arrow from t3, graph 0 to t3, graph 1 nohead dt 2 lc rgb "gray40"
set label "N2 killed" at t3, graph 0.92 offset 0.5, 0 font ",9"
set arrow from dl, graph 0 to dl, graph 1 nohead lw 2 lc rgb "red"
set label "deadline" at dl, graph 0.6 right offset -0.5, 0 font ",9" tc rgb "red"
plot datafile using 1:2 with lines lw 2 title "N1", \
     datafile using 1:3 with lines lw 2 title "N2", \
     datafile using 1:4 with lines lw 2 title "N3", \
     datafile using 1:5 with lines lw 2 title "N4", \
     datafile using 1:6 with lines lw 1 dt 2 lc rgb "black" title "total"
