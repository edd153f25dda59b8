#!/usr/bin/env python3
# Import cycles between modules: python3 scripts/import_cycles.py src
# Reads every crate::/super:: path outside comments and test modules, builds the graph of
# files (folders for the top level) and prints each strongly connected component.
import os,re,sys,itertools
root=sys.argv[1]
files={}
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p=os.path.join(d,f)
            mod=os.path.relpath(p,root)[:-3].replace('/mod','').replace('/','::')
            if mod=='lib' or mod=='main' or mod.startswith('bin'): continue
            files[mod]=open(p).read()
mods=set(files)
def resolve(cur, path):
    # path like crate::a::b::c or super::x
    parts=path.split('::')
    if parts[0]=='crate': parts=parts[1:]
    elif parts[0] in ('super','self'):
        base=cur.split('::')
        # a file module foo/bar.rs = foo::bar; super = foo
        iscrate_mod = os.path.exists(os.path.join(root,*cur.split('::'),'mod.rs'))
        if parts[0]=='self':
            base=base if iscrate_mod else base
        while parts and parts[0]=='super':
            base = base if iscrate_mod and False else base[:-1]
            iscrate_mod=False
            parts=parts[1:]
        if parts and parts[0]=='self': parts=parts[1:]
        parts=base+parts
    else: return None
    # longest prefix that is a module
    for k in range(len(parts),0,-1):
        m='::'.join(parts[:k])
        if m in mods: return m
    return None
edges=set()
for m,src in files.items():
    # strip test modules
    src=re.split(r'#\[cfg\(test\)\]\s*mod tests',src)[0]
    src="\n".join(l for l in src.split("\n") if not l.strip().startswith("//"))
    for use in re.findall(r'\b((?:crate|super)(?:::\w+)+)',src):
        t=resolve(m,use)
        if t and t!=m and not m.startswith(t+'::') : edges.add((m,t))
    for grp in re.findall(r'use\s+((?:crate|super)(?:::\w+)*)::\{([^}]*)\}',src):
        for name in re.findall(r'\w+',grp[1]):
            t=resolve(m,grp[0]+'::'+name)
            if t and t!=m and not m.startswith(t+'::'): edges.add((m,t))
level=sys.argv[2] if len(sys.argv)>2 else 'file'
def coarse(m):
    p=m.split('::')
    if p[0] in ('actors','workflow','http','store','domain','provider','paysim','activity','subsystem'):
        return '::'.join(p[:2])
    return p[0]
E=set((coarse(a),coarse(b)) for a,b in edges if coarse(a)!=coarse(b))
# find 2-cycles and SCCs
import collections
g=collections.defaultdict(set)
for a,b in E: g[a].add(b)
idx={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in g[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        if len(comp)>1: sccs.append(sorted(comp))
for v in list(g): 
    if v not in idx: sc(v)
for s in sccs: 
    print("cycle:",s)
    for a in s:
        for b in sorted(g[a]):
            if b in s: print("   ",a,"->",b)
