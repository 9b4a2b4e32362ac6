package bkdriver

import (
	"sync"

	"github.com/moby/buildkit/client"
)

// progress forwards the status streams of several BuildKit calls into one
// caller-owned channel, prefixing vertex names with the resource address so
// concurrent builds stay readable in one progressui display.
type progress struct {
	out    chan *client.SolveStatus
	prefix string
	wg     sync.WaitGroup
}

func newProgress(out chan *client.SolveStatus, address string) *progress {
	p := &progress{out: out}
	if address != "" {
		p.prefix = "[" + address + "] "
	}
	return p
}

// channel returns a fresh channel for one BuildKit call, which closes it when
// the call returns.
func (p *progress) channel() chan *client.SolveStatus {
	ch := make(chan *client.SolveStatus)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for st := range ch {
			if p.out == nil {
				continue
			}
			if p.prefix != "" {
				for _, v := range st.Vertexes {
					v.Name = p.prefix + v.Name
				}
			}
			p.out <- st
		}
	}()
	return ch
}

// wait returns once every stream is drained, so nothing is sent on the caller's
// channel after the call that used it returns.
func (p *progress) wait() { p.wg.Wait() }
