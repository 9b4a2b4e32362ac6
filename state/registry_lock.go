package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/internal/oci"
)

// The registry lock (SPEC §7). Registries have no compare-and-swap on tags, so no two
// contenders ever write the same tag: each attempt pushes a lock artifact at a tag of
// its own, WORKSPACE.lock.<unix-ms>.<random>, waits the settle delay S after the PUT
// returns, then lists the lock tags. If another live lock is listed, it releases its
// own and backs off; otherwise it holds the lock. Of two attempts whose locks exist at
// once, the listing of the one whose PUT completed later sees the other's tag (given
// that the registry's tag list lags by less than S), so at most one holds the lock.
//
// A lock is live until released (its tag re-pointed at the released marker, or gone)
// or stale: its digest unchanged for one TTL since this observer first saw it, on
// this process's monotonic clock. The holder renews (re-pushes with a new `renewed`
// time, so a new digest) every TTL/5. Whoever finds a stale lock releases it. The
// first release's single lock tag, WORKSPACE.lock, is honoured the same way.

// sighting is when this observer first saw a lock tag with a digest.
type sighting struct {
	digest string
	first  time.Time
}

// released is the marker a lock tag points at once released: always the same artifact,
// so always the same digest. It is made when first needed (not at start-up: most
// commands never look at a lock).
var released = sync.OnceValue(func() struct {
	img    v1.Image
	digest string
} {
	img, d, err := artifactOf(ReleasedArtifactType, types.OCIEmptyJSON, emptyJSON)
	if err != nil {
		panic(err)
	}
	return struct {
		img    v1.Image
		digest string
	}{img, d}
})

// legacyLockTag is the first release's lock tag.
func (r *Registry) legacyLockTag() string { return r.workspace + ".lock" }

// isLockTag reports whether t is one of this workspace's lock tags. Workspace names
// have no '.', so no other workspace's tag matches.
func (r *Registry) isLockTag(t string) bool {
	return t == r.legacyLockTag() || strings.HasPrefix(t, r.legacyLockTag()+".")
}

// newLockTag names a new attempt's tag. The time and the random part only make it
// unique and readable: they are never compared.
func (r *Registry) newLockTag() name.Tag {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return r.repo.Tag(r.legacyLockTag() + "." + strconv.FormatInt(time.Now().UnixMilli(), 10) + "." + hex.EncodeToString(b[:]))
}

// lockEntry is a lock tag as listed.
type lockEntry struct {
	tag      string
	digest   string
	released bool
	info     *LockInfo // for a live lock
}

// listLocks lists this workspace's lock tags except own, and reads each: released or
// live (with its holder). It also says whether own was listed.
func (r *Registry) listLocks(ctx context.Context, p *remote.Puller, own string) ([]lockEntry, bool, error) {
	tags, err := p.List(ctx, r.repo)
	if err != nil && !oci.IsNotFound(err) {
		return nil, false, fmt.Errorf("listing the lock tags of %s: %w", r.repo, oci.Explain(err))
	}
	var names []string
	seenOwn := false
	for _, t := range tags {
		switch {
		case t == own:
			seenOwn = true
		case r.isLockTag(t):
			names = append(names, t)
		}
	}
	slices.Sort(names)
	entries := make([]lockEntry, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, t := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			entries[i], errs[i] = r.readLockTag(ctx, p, t)
		}()
	}
	wg.Wait()
	var out []lockEntry
	for i, e := range entries {
		if errs[i] != nil {
			return nil, false, errs[i]
		}
		if e.tag != "" {
			out = append(out, e)
		}
	}
	return out, seenOwn, nil
}

// readLockTag reads one lock tag; a zero entry when it vanished since the listing.
func (r *Registry) readLockTag(ctx context.Context, p *remote.Puller, t string) (lockEntry, error) {
	tag := r.repo.Tag(t)
	desc, err := r.get(ctx, p, tag)
	if err != nil || desc == nil {
		return lockEntry{}, err
	}
	e := lockEntry{tag: t, digest: desc.Digest.String()}
	where := "lock " + tag.String()
	if m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest)); err == nil && m.ArtifactType == ReleasedArtifactType {
		e.released = true
		return e, nil
	}
	data, err := r.fetch(ctx, p, desc, LockArtifactType, LockLayerMediaType, where)
	if err != nil {
		return lockEntry{}, err
	}
	if e.info, err = decodeLock(data, where); err != nil {
		return lockEntry{}, err
	}
	e.info.Where = tag.String()
	return e, nil
}

// stale reports whether e's digest has not changed for ttl since this observer first
// saw it, recording the sighting.
func (r *Registry) stale(e lockEntry, ttl time.Duration) bool {
	r.seenMu.Lock()
	defer r.seenMu.Unlock()
	s, ok := r.seen[e.tag]
	if !ok || s.digest != e.digest {
		r.seen[e.tag] = sighting{digest: e.digest, first: time.Now()}
		return false
	}
	return time.Since(s.first) >= ttl
}

// releaseTag re-points tag at the released marker, then deletes the marker where the
// registry allows (which removes every tag pointing at it, all released locks). GHCR
// refuses deletes: the marker stays, and a tag pointing at it counts as no lock.
func (r *Registry) releaseTag(ctx context.Context, tag name.Tag) error {
	if err := r.client.Write(ctx, tag, released().img); err != nil {
		return fmt.Errorf("releasing the state lock %s: %w", tag, err)
	}
	_ = r.client.Delete(ctx, r.repo.Digest(released().digest))
	return nil
}

// pushLock pushes info's lock artifact at tag and returns its digest. On error the
// digest is still returned: the registry may have stored it.
func (r *Registry) pushLock(ctx context.Context, tag name.Tag, info *LockInfo) (string, error) {
	data, err := encodeLock(info)
	if err != nil {
		return "", err
	}
	img, d, err := artifactOf(LockArtifactType, LockLayerMediaType, data)
	if err != nil {
		return "", err
	}
	if err := r.client.Write(ctx, tag, img); err != nil {
		return d, fmt.Errorf("writing %s: %w", tag, err)
	}
	return d, nil
}

// tryLock implements Locker: one attempt of the protocol above.
func (r *Registry) tryLock(ctx context.Context, info *LockInfo, o *lockOptions) (lease, error) {
	mine := *info
	mine.Renewed = time.Now().UTC()
	tag := r.newLockTag()
	d, err := r.pushLock(ctx, tag, &mine)
	if err != nil {
		// It may have been stored all the same: give it up.
		_ = r.releaseTag(context.WithoutCancel(ctx), tag)
		return nil, fmt.Errorf("taking the state lock: %w", err)
	}
	giveUp := func(err error) (lease, error) {
		if rerr := r.releaseTag(context.WithoutCancel(ctx), tag); rerr != nil {
			err = fmt.Errorf("%w; and %v (it becomes stale after %s)", err, rerr, o.ttl)
		}
		return nil, err
	}
	if r.settle > 0 {
		t := time.NewTimer(r.settle)
		select {
		case <-ctx.Done():
			t.Stop()
			return giveUp(ctx.Err())
		case <-t.C:
		}
	}
	p, err := r.puller(ctx)
	if err != nil {
		return giveUp(err)
	}
	entries, seenOwn, err := r.listLocks(ctx, p, tag.TagStr())
	if err != nil {
		return giveUp(err)
	}
	var live []*LockInfo
	for _, e := range entries {
		switch {
		case e.released:
		case r.stale(e, o.ttl):
			// Not renewed for a TTL on this observer's clock: its holder is gone.
			if cur, err := r.readLockTag(ctx, p, e.tag); err != nil || cur.digest != e.digest {
				continue // it moved meanwhile: judged again next time
			}
			if err := r.releaseTag(ctx, r.repo.Tag(e.tag)); err != nil {
				return giveUp(err)
			}
			if o.logf != nil {
				o.logf("released the stale state lock %s (lock ID %s, by %s): not renewed for %s", e.tag, e.info.ID, e.info.Who, o.ttl)
			}
		default:
			live = append(live, e.info)
		}
	}
	if !seenOwn {
		// Our own tag is not listed yet: the tag list lags more than the settle delay,
		// and a contender's tag could be missing from it just the same.
		return giveUp(fmt.Errorf("taking the state lock: %s did not list the lock tag %s %s after it was written: its tag list lags more than the settle delay; raise %s (now %s)",
			r.repo.RegistryStr(), tag.TagStr(), r.settle, LockSettleEnv, r.settle))
	}
	if len(live) > 0 {
		_, err := giveUp(&LockError{Info: live[0], Err: fmt.Errorf("its lock is the tag %s", live[0].Where),
			Stale: fmt.Sprintf("a lock not renewed for %s (%s) counts as abandoned", o.ttl, LockTTLEnv)})
		return nil, err
	}
	return &registryLease{r: r, tag: tag, id: info.ID, digest: d}, nil
}

// Locks implements Locker: the live (not released) locks, whatever their age.
func (r *Registry) Locks(ctx context.Context) ([]*LockInfo, error) {
	p, err := r.puller(ctx)
	if err != nil {
		return nil, err
	}
	entries, _, err := r.listLocks(ctx, p, "")
	if err != nil {
		return nil, err
	}
	var out []*LockInfo
	for _, e := range entries {
		if !e.released {
			out = append(out, e.info)
		}
	}
	return out, nil
}

// Unlock implements Locker: it releases every lock tag holding the lock id. A holder
// still running may have a renewal in flight that lands after the release: the tags are
// listed again after the settle delay, and released again if so (the holder then finds
// its tag released at its next renewal, and stops).
func (r *Registry) Unlock(ctx context.Context, id string) error {
	for round := 0; ; round++ {
		p, err := r.puller(ctx)
		if err != nil {
			return err
		}
		entries, _, err := r.listLocks(ctx, p, "")
		if err != nil {
			return err
		}
		var others []string
		n := 0
		for _, e := range entries {
			switch {
			case e.released:
			case e.info.ID == id:
				if err := r.releaseTag(ctx, r.repo.Tag(e.tag)); err != nil {
					return err
				}
				n++
			default:
				others = append(others, e.info.ID+" (by "+e.info.Who+")")
			}
		}
		switch {
		case n == 0 && round > 0:
			return nil
		case n == 0 && len(others) == 0:
			return fmt.Errorf("%s is not locked; nothing to unlock", r)
		case n == 0:
			return fmt.Errorf("no lock of %s has ID %s; it is locked by %s: nothing was unlocked", r, id, strings.Join(others, ", "))
		case round == 3:
			return fmt.Errorf("the lock %s of %s keeps being renewed: its sovos is running; stop it first", id, r)
		}
		t := time.NewTimer(max(r.settle, 100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// registryLease is a lock held on a registry: its own tag, and the digest last pushed
// there.
type registryLease struct {
	r   *Registry
	tag name.Tag
	id  string

	mu      sync.Mutex
	digest  string
	pending []string // renewals that failed but may have been stored
}

func (l *registryLease) renewable() bool { return true }

func (l *registryLease) lost(format string, args ...any) error {
	return &LockLostError{ID: l.id, Reason: fmt.Sprintf(format, args...)}
}

// head returns the digest tag points at ("" when there is none).
func (l *registryLease) head(ctx context.Context, p *remote.Puller, tag name.Tag) (string, error) {
	desc, err := p.Head(ctx, tag)
	if oci.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", tag, oci.Explain(err))
	}
	return desc.Digest.String(), nil
}

func (l *registryLease) check(ctx context.Context, accepted func(string) bool) error {
	p, err := l.r.puller(ctx)
	if err != nil {
		return err
	}
	d, err := l.head(ctx, p, l.tag)
	if err != nil {
		return fmt.Errorf("checking the state lock: %w", err)
	}
	if err := l.ours(d); err != nil {
		return err
	}
	if accepted == nil {
		return nil
	}
	cur, err := l.head(ctx, p, l.r.tag)
	if err != nil {
		return fmt.Errorf("checking the state before writing: %w", err)
	}
	return stateIs(l.id, l.r, cur, accepted)
}

// ours checks that the lock tag's digest d is the one last pushed.
func (l *registryLease) ours(d string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case d == l.digest:
		return nil
	case slices.Contains(l.pending, d):
		l.digest, l.pending = d, nil
		return nil
	case d == "" || d == released().digest:
		return l.lost("its tag %s was released by someone else: `sovos force-unlock`, or another sovos found it stale (not renewed within %s)", l.tag, LockTTLEnv)
	}
	return l.lost("its tag %s was overwritten (it points at %s, not at the lock this sovos pushed)", l.tag, d)
}

func (l *registryLease) renew(ctx context.Context, info *LockInfo) error {
	if err := l.check(ctx, nil); err != nil {
		return err
	}
	d, err := l.r.pushLock(ctx, l.tag, info)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if d != "" {
			l.pending = append(l.pending, d)
		}
		return err
	}
	l.digest, l.pending = d, nil
	return nil
}

func (l *registryLease) stateDigest(ctx context.Context) (string, error) {
	p, err := l.r.puller(ctx)
	if err != nil {
		return "", err
	}
	return l.head(ctx, p, l.r.tag)
}

func (l *registryLease) write(ctx context.Context, s *State, accepted func(string) bool, fence func() error) (string, error) {
	img, d, err := stateArtifact(s)
	if err != nil {
		return "", err
	}
	// Before each attempt of the manifest PUT (the retries included): the lock still
	// ours and renewed in time, the state still what we last read or wrote (or this very
	// write, stored by an attempt whose answer was lost).
	guard := func(ctx context.Context) error {
		if err := fence(); err != nil {
			return err
		}
		if err := l.check(ctx, func(cur string) bool { return cur == d || accepted(cur) }); err != nil {
			return err
		}
		return fence() // the reads above took time
	}
	if err := l.r.client.Write(oci.WithGuard(ctx, guard), l.r.tag, img); err != nil {
		var lle *LockLostError
		if errors.As(err, &lle) {
			return "", lle
		}
		return d, fmt.Errorf("writing %s: %w", l.r.tag, err)
	}
	return d, nil
}

func (l *registryLease) release(ctx context.Context) error {
	return l.r.releaseTag(ctx, l.tag)
}
