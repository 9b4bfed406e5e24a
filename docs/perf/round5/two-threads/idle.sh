#!/bin/bash
# prints the idle percentage of all CPUs over 2 s
read -r _ u n s i w x y z _ < /proc/stat; t1=$((u+n+s+i+w+x+y+z)); i1=$((i+w))
sleep 2
read -r _ u n s i w x y z _ < /proc/stat; t2=$((u+n+s+i+w+x+y+z)); i2=$((i+w))
echo $(( 100 * (i2-i1) / (t2-t1) ))
