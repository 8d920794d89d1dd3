# timeseries.gp -- mtbench's time series plot (gnuplot 5): per workload one
# panel of the p99 latency of each 10 ms interval (lines) and its max
# (crosses), one colour per rep and op type, log scale, so spikes show (a
# vector's sort at freeze, array growth, a hash rep's cross-bucket scan).
# mtbench runs: gnuplot -e "datafile='D/timeseries.dat'; outfile='D/timeseries.svg';
#   blocks='first:count:workload ...'; interval=10; ttl='...'" timeseries.gp
# timeseries.dat: gnuplot blocks (index 0, 1, ...), each "t_ms p99 p50 max ops"
# rows under a header whose 2nd column names the block ("rep op"); blocks
# first..first+count-1 belong to the workload named in `blocks`.
if (!exists("datafile")) datafile = 'bench-results/timeseries.dat'
if (!exists("outfile")) outfile = 'bench-results/timeseries.svg'
if (!exists("blocks")) blocks = '0:1:workload'
if (!exists("interval")) interval = 10
if (!exists("ttl")) ttl = 'mtbench: p99 latency per interval'

rest(x) = substr(x, strstrt(x, ':') + 1, strlen(x))
first(x) = int(substr(x, 1, strstrt(x, ':') - 1))
count(x) = int(substr(rest(x), 1, strstrt(rest(x), ':') - 1))
name(x) = substr(rest(x), strstrt(rest(x), ':') + 1, strlen(rest(x)))
n = words(blocks)

set terminal svg size 1200,(120 + 260 * n) dynamic noenhanced font "sans,11" background rgb "white"
set output outfile
set datafile missing "-"
set key outside right top
set grid ytics xtics
set logscale y 10
set ylabel "ns (log)"
stats datafile using 1 nooutput   # a run shorter than one interval still gets an x range
set xrange [0:(STATS_max > 0 ? STATS_max : interval)]
set lmargin 12
set rmargin 30
set multiplot layout n,1 title ttl
do for [i=1:n] {
  w = word(blocks, i)
  f = first(w)
  c = count(w)
  set title sprintf("%s: p99 of each %d ms interval (lines), max (crosses)", name(w), interval)
  if (i == n) { set xlabel "ms since the timed region began" } else { unset xlabel }
  plot for [b=f:f+c-1] datafile index b using 1:2 with linespoints pt 7 ps 0.4 lw 1.5 lc (b-f+1) title columnheader(2), \
       for [b=f:f+c-1] datafile index b using 1:4 with points pt 2 ps 0.6 lc (b-f+1) notitle
}
unset multiplot
