# plot.gp -- mtbench's plot (gnuplot 5): grouped bars of ns/op per workload
# on a log scale, one bar per rep, over a panel of bytes/entry per rep.
# mtbench runs: gnuplot -e "datafile='D/plot.dat'; memfile='D/plot_mem.dat';
#   outfile='D/plot.svg'; nreps=K; ttl='...'" plot.gp
# plot.dat: a header "workload rep1 rep2 ...", then one row per workload of
# median ns/op ('-' = no figure); plot_mem.dat: "rep bytes_per_entry" rows.
if (!exists("datafile")) datafile = 'bench-results/plot.dat'
if (!exists("memfile")) memfile = 'bench-results/plot_mem.dat'
if (!exists("outfile")) outfile = 'bench-results/plot.svg'
if (!exists("nreps")) nreps = 5
if (!exists("ttl")) ttl = 'mtbench: ns/op per workload (lower is better)'

set terminal svg size 1200,820 dynamic noenhanced font "sans,12" background rgb "white"
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb "black"
set boxwidth 0.9 relative
set key outside right top
set grid ytics

set multiplot
set lmargin 12
set rmargin 24
set size 1, 0.66
set origin 0, 0.34
set title ttl
set logscale y 10
set ylabel "ns/op (log scale)"
set xtics rotate by -20 nomirror
set offsets 0.5, 0.5, 0, 0  # one workload is a range too
plot for [i=2:nreps+1] datafile using i:xtic(1) title columnheader(i)

set size 1, 0.32
set origin 0, 0
set title "bytes per entry after fillrandom (lower is better)"
unset logscale y
set yrange [0:*]
set xrange [-0.6:nreps-0.4]
set ylabel "B/entry"
set xtics norotate
plot memfile using 0:2:xtic(1) with boxes title columnheader(2) lc rgb "#4c72b0"  # boxes: one rep is a range too
unset multiplot
set lmargin 12
set rmargin 24
