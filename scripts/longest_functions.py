#!/usr/bin/env python3
# The longest functions outside test modules: python3 scripts/longest_functions.py src [N]
# (line counts from the fn line to its closing brace).
import os,re,sys
root=sys.argv[1]
out=[]
for d,_,fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p=os.path.join(d,f)
        lines=open(p).read().split('\n')
        # cut test module
        end=len(lines)
        for i,l in enumerate(lines):
            if l.startswith('#[cfg(test)]'): end=i;break
        i=0
        while i<end:
            m=re.match(r'\s*(pub(\([a-z]+\))? )?(async )?fn (\w+)',lines[i])
            if m:
                depth=0;started=False;j=i
                while j<end:
                    depth+=lines[j].count('{')-lines[j].count('}')
                    if '{' in lines[j]: started=True
                    if started and depth<=0: break
                    if not started and lines[j].rstrip().endswith(';'): break
                    j+=1
                out.append((j-i+1,os.path.relpath(p,root),m.group(4)))
                i=j+1 if started else i+1
            else: i+=1
out.sort(reverse=True)
for n,p,f in out[:int(sys.argv[2]) if len(sys.argv)>2 else 5]: print(f"{n:4} {p}::{f}")
