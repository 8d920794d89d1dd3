# sweep.gp -- mtbench's sweep plot (gnuplot 5): per workload a row of two
# panels, ops/s and p99 latency against the swept value (one line per rep),
# and a last row from the memory probe: bytes per entry (library accounting,
# solid; resident-set growth, dashed) and entries held by the budget.
# mtbench runs: gnuplot -e "datafile='D/sweep_P.dat'; outfile='D/sweep_P.svg';
#   blocks='first:count:workload ... first:count:memory'; param='P'; ttl='...'" sweep.gp
# sweep_P.dat: gnuplot blocks (index), each with a header naming the rep in
# column 3; rows "k value ops/s p99 B/entry" (workload blocks) or
# "k value lib_bpe rss_bpe budget_entries" (memory blocks); '-' = no figure.
# The x axis is the value's position k, labelled with the value.
if (!exists("datafile")) datafile = 'bench-results/sweep_num.dat'
if (!exists("outfile")) outfile = 'bench-results/sweep_num.svg'
if (!exists("blocks")) blocks = '0:1:workload'
if (!exists("param")) param = 'value'
if (!exists("ttl")) ttl = 'mtbench sweep'

rest(x) = substr(x, strstrt(x, ':') + 1, strlen(x))
first(x) = int(substr(x, 1, strstrt(x, ':') - 1))
count(x) = int(substr(rest(x), 1, strstrt(rest(x), ':') - 1))
name(x) = substr(rest(x), strstrt(rest(x), ':') + 1, strlen(rest(x)))
n = words(blocks)

set terminal svg size 1300,(120 + 300 * n) dynamic noenhanced font "sans,11" background rgb "white"
set output outfile
set datafile missing "-"
set key below
set grid ytics xtics
set xlabel param
set offsets 0.2, 0.2, 0, 0
set multiplot layout n,2 title ttl
do for [i=1:n] {
  w = word(blocks, i)
  f = first(w)
  c = count(w)
  if (name(w) eq "memory") {
    unset logscale y
    set yrange [0:*]
    set title "bytes per entry: library (solid), resident-set growth (dashed)"
    set ylabel "B/entry"
    plot for [b=f:f+c-1] datafile index b using 1:3:xtic(2) with linespoints lw 1.5 lc (b-f+1) title columnheader(3), \
         for [b=f:f+c-1] datafile index b using 1:4 with linespoints dt 2 lc (b-f+1) notitle
    set title "entries held by the memory budget"
    set ylabel "entries"
    plot for [b=f:f+c-1] datafile index b using 1:5:xtic(2) with linespoints lw 1.5 lc (b-f+1) title columnheader(3)
    set autoscale y
  } else {
    set logscale y 10
    set title sprintf("%s: ops/s (median)", name(w))
    set ylabel "ops/s (log)"
    plot for [b=f:f+c-1] datafile index b using 1:3:xtic(2) with linespoints lw 1.5 lc (b-f+1) title columnheader(3)
    set title sprintf("%s: p99 latency", name(w))
    set ylabel "ns (log)"
    plot for [b=f:f+c-1] datafile index b using 1:4:xtic(2) with linespoints lw 1.5 lc (b-f+1) title columnheader(3)
  }
}
unset multiplot
