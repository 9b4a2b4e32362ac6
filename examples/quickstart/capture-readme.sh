#!/usr/bin/env bash
# Recaptures the ```console blocks of the repository's README.md from a real run: the
# quickstart demo (`DEMO_SHELL=1 make demo`), then the tour's commands in its shell.
# Run it, as root, when `go test ./examples -run Quickstart` reports that the README
# shows a line sovos no longer prints; review the diff (git diff README.md) and commit.
# Needs python3. The README's prose around the blocks is not touched.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
work=$(mktemp -d /tmp/sovos-capture.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The tour, in the README's order. "@@@ NAME" lines delimit each command's output.
cat >"$work/tour.sh" <<'TOUR'
cd examples/quickstart
echo '@@@ output'; sovos output
echo '@@@ fetch'; sovos fetch profile.cm5-hailo10h -o _out/cm5
sed -i 's/^  author: quickstart$/  author: you/' extension/manifest.yaml
echo '@@@ change-plan'; sovos plan -out=change.plan
echo '@@@ markdown'; sovos show -format=markdown change.plan
echo '@@@ apply-change'; sovos apply change.plan 2>/dev/null
echo '@@@ promote'; sovos apply -promote -auto-approve 2>/dev/null
echo '@@@ verify'; sovos verify
echo '@@@ replace'; sovos apply -auto-approve -replace=kernel.sovereign 2>/dev/null
echo '@@@ adopt-plan'; sovos plan -workspace=fresh
echo '@@@ adopt-apply'; sovos apply -workspace=fresh -auto-approve 2>/dev/null
echo '@@@ history'; sovos state history
first=$(sovos state history -json | python3 -c 'import json,sys; print([e["serial"] for e in json.load(sys.stdin) if e["promoted"]][-1])')
echo '@@@ gc-dry-run'; sovos gc -keep=1 -min-age=0 -dry-run
echo '@@@ rollback'; echo "$first"; BUILDKIT_HOST=unix:///nonexistent sovos rollback -to="$first" -auto-approve
echo '@@@ promote-plan'; sovos plan -promote
sovos apply -auto-approve -replace=kernel.sovereign -progress=quiet >/dev/null 2>&1 &
sleep 0.7
echo '@@@ lock'; sovos apply -auto-approve 2>&1
wait
# Checking what sovos built, without sovos: a cosign key pair, signing turned on, cosign.
export PATH=$PATH:$(cd ../.. && pwd)/.tools/bin COSIGN_PASSWORD=quickstart
cosign generate-key-pair >/dev/null 2>&1
cp main.sovos.hcl main.sovos.hcl.unsigned
sed -i '0,/^sovos {$/s//sovos {\n  signing {\n    key        = "cosign.key"\n    public_key = "cosign.pub"\n  }/' main.sovos.hcl
echo '@@@ sign'; sovos apply -auto-approve -promote 2>/dev/null
echo '@@@ cosign-verify'; cosign verify --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry=true "$SOVOS_VAR_registry/quickstart/hailort:5.3.0" 2>&1
echo '@@@ cosign-attestation'
cosign verify-attestation --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry=true \
  --type https://github.com/urmanac/sovos/attestation/module-signatures/v1 "$SOVOS_VAR_registry/quickstart/hailort:5.3.0" 2>&1 |
  python3 -c 'import sys,json,base64
for l in sys.stdin:
    try: p=json.loads(l)["payload"]
    except Exception: sys.stdout.write(l); continue
    print(json.dumps(json.loads(base64.b64decode(p))["predicate"], indent=2))'
echo '@@@ end'
mv main.sovos.hcl.unsigned main.sovos.hcl
rm -f cosign.key cosign.pub
sed -i 's/^  author: you$/  author: quickstart/' extension/manifest.yaml
rm -rf change.plan _out/cm5
exit
TOUR
DEMO_SHELL=1 make --no-print-directory demo <"$work/tour.sh" >"$work/log" 2>"$work/err" || {
  tail -n 30 "$work/err" >&2
  exit 1
}
python3 - "$work/log" README.md <<'PY'
import re,sys
log=open(sys.argv[1]).read().split('\n')
def between(start, end, occurrence=0):
    idx=[i for i,l in enumerate(log) if l==start]
    i=idx[occurrence]+1
    j=i
    while j<len(log) and not log[j].startswith(end): j+=1
    out=log[i:j]
    while out and out[-1]=='': out.pop()
    return out
def block(lines, start_pred):
    # lines from the line equal to start_pred up to the next blank line
    i=lines.index(start_pred); j=i
    while j<len(lines) and lines[j]!='': j+=1
    return lines[i:j]
def from_(lines, prefix):
    i=[k for k,l in enumerate(lines) if l.startswith(prefix)][0]
    return lines[i:]
def upto(lines, prefix):
    i=[k for k,l in enumerate(lines) if l.startswith(prefix)][0]
    return lines[:i+1]

plan1=between('$ sovos -chdir=examples/quickstart plan','==> The main job')
apply=between('$ sovos -chdir=examples/quickstart apply -auto-approve -promote','==> Planning again')
noop=between('$ sovos -chdir=examples/quickstart plan','==> Every module',1)
output=between('@@@ output','@@@')
fetch=between('@@@ fetch','@@@')
verify=between('@@@ verify','@@@')
change=between('@@@ change-plan','@@@')
md=between('@@@ markdown','@@@')
applych=between('@@@ apply-change','@@@')
promote=between('@@@ promote','@@@')
replace=between('@@@ replace','@@@')
adoptp=between('@@@ adopt-plan','@@@')
adopta=between('@@@ adopt-apply','@@@')
lock=between('@@@ lock','@@@')
history=between('@@@ history','@@@')
gcdry=between('@@@ gc-dry-run','@@@')
rollback=between('@@@ rollback','@@@')
first,rollback=rollback[0],rollback[1:]
promoteplan=between('@@@ promote-plan','@@@')
sign=between('@@@ sign','@@@')
cverify=between('@@@ cosign-verify','@@@')
catt=between('@@@ cosign-attestation','@@@')

B=[]
B.append(['$ sovos -chdir=examples/quickstart plan']+plan1)
B.append(['$ sovos -chdir=examples/quickstart apply -auto-approve -promote',
  '...the plan above, now with the stable tags -promote will move:']
  + block(apply,'  # extension.hailort will be created') + ['...'] + from_(apply,'Plan: '))
B.append(['$ sovos -chdir=examples/quickstart plan']+noop)
B.append(['$ sovos -chdir=examples/quickstart output']+output+['$ sovos -chdir=examples/quickstart fetch profile.cm5-hailo10h -o _out/cm5']+fetch)
B.append(['$ cd examples/quickstart','$ sovos plan -out=change.plan']+change)
B.append(['$ sovos show -format=markdown change.plan']+upto(md,'<details>')+['','...the human plan above...','','</details>'])
B.append(['$ sovos apply change.plan']+upto(applych,'Apply complete!')+['...','$ sovos apply -promote -auto-approve']+upto(promote,'Apply complete!')+['...'])
B.append(['$ sovos apply -auto-approve -replace=kernel.sovereign','...']+block(replace,'  # kernel.sovereign will be rebuilt')+['']+block(replace,'  # extension.hailort will be rebuilt')+['...']+[l for l in replace if l.startswith('Plan: ')]+['']+upto(from_(replace,'kernel.sovereign: built'),'Apply complete!')+['...'])
B.append(['$ sovos verify']+verify)
B.append(['$ cosign generate-key-pair','$ # sovos { signing { key = "cosign.key"  public_key = "cosign.pub" } } in main.sovos.hcl',
  '$ COSIGN_PASSWORD=... sovos apply -auto-approve -promote','...']+[l for l in sign if l.startswith('Plan: ')]+['']
  +[l for l in sign if l.startswith('extension.hailort: promoted')]+['...']+[l for l in sign if l.startswith('Apply complete!')]+['...',
  '$ cosign verify --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry=true 127.0.0.1:5000/quickstart/hailort:5.3.0']+cverify
  +['$ cosign verify-attestation --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry=true \\',
    '    --type https://github.com/urmanac/sovos/attestation/module-signatures/v1 \\',
    '    127.0.0.1:5000/quickstart/hailort:5.3.0 | jq -r .payload | base64 -d | jq .predicate']+catt)
B.append(['$ sovos plan -workspace=fresh']+upto(adoptp,"Sovos will perform")+['']+block(adoptp,'  # kernel.sovereign will be adopted')+['...']+[l for l in adoptp if l.startswith('Plan: ')]+['$ sovos apply -workspace=fresh -auto-approve','...']+upto(from_(adopta,'kernel.sovereign: adopted'),'Apply complete!')+['...'])
B.append(['$ sovos apply -auto-approve']+lock)
B.append(['$ sovos state history']+history)
B.append(['$ sovos rollback -to='+first+' -auto-approve']+rollback)
B.append(['$ sovos plan -promote','...']+block(promoteplan,'  # extension.hailort will be promoted')+['...']+[l for l in promoteplan if l.startswith('Plan: ')])
B.append(['$ sovos gc -keep=1 -min-age=0 -dry-run']+gcdry)

readme=open(sys.argv[2]).read()
parts=re.split(r'(```console\n.*?```)', readme, flags=re.S)
k=0
for i,p in enumerate(parts):
    if p.startswith('```console\n'):
        # keep the block's indentation (a block inside a list item)
        m=re.search(r'\n([ ]*)```$', p)
        ind=m.group(1)
        body='\n'.join((ind+l) if l else '' for l in B[k])
        parts[i]='```console\n'+body+'\n'+ind+'```'
        k+=1
assert k==len(B), (k,len(B))
open(sys.argv[2],'w').write(''.join(parts))
PY
git --no-pager diff --stat README.md
