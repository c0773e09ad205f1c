# offload_avail.gp: bench/offload availability part, beside the paper's Figure 7.
#   gnuplot -e "datafile='D'; outfile='O.png'; heading='...'" offload_avail.gp
# D: blocks 0..3 measured (none, rs, rep2, rs-rep2), rows "failed percent"; blocks 4..7 the
# paper's figures as its text states them (rs, rep2, rs-rep2, none); 8..11 what the
# push's real placement gives over all failure sets (bench/lib/offload_avail_model.py
# --manifest: none, rs, rep2, rs-rep2).
set terminal pngcairo size 1000,600 font ",11"
set output outfile
set title heading font ",10"
set xlabel "failed depots (of 20)"
set ylabel "data available (%)"
set xrange [-0.5:10.5]
set yrange [0:105]
set grid
set key bottom left box opaque
plot datafile index 0 using 1:2 with linespoints lw 2 pt 7 lc 1 title "no coding", \
     datafile index 1 using 1:2 with linespoints lw 2 pt 5 lc 2 title "RS 4:5", \
     datafile index 2 using 1:2 with linespoints lw 2 pt 9 lc 3 title "2 replicas", \
     datafile index 3 using 1:2 with linespoints lw 2 pt 11 lc 4 title "RS 4:5 x 2 replicas", \
     datafile index 4 using 1:2 with points pt 4 ps 2 lc 2 title "paper: RS 4:5", \
     datafile index 5 using 1:2 with points pt 8 ps 2 lc 3 title "paper: 2 replicas", \
     datafile index 6 using 1:2 with points pt 10 ps 2 lc 4 title "paper: RS 4:5 x 2", \
     datafile index 7 using 1:2 with points pt 6 ps 2 lc 1 title "paper: no coding", \
     datafile index 8 using 1:2 with lines dt 3 lc 1 title "expected from the placement: no coding", \
     datafile index 9 using 1:2 with lines dt 3 lc 2 title "expected from the placement: RS 4:5", \
     datafile index 10 using 1:2 with lines dt 3 lc 3 title "expected from the placement: 2 replicas", \
     datafile index 11 using 1:2 with lines dt 3 lc 4 title "expected from the placement: RS 4:5 x 2"
