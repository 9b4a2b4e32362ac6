package bkdriver

import (
	"context"
	"sync"
)

// Pool connects to each builder (a BuildKit daemon, by name) once, on first use, and
// closes every connection it made: an apply's builds share one connection per daemon.
type Pool struct {
	connect func(ctx context.Context, name string) (*Driver, error)

	mu    sync.Mutex
	conns map[string]*poolConn
}

type poolConn struct {
	once sync.Once
	d    *Driver
	err  error
}

// NewPool returns a pool that connects to a builder with connect.
func NewPool(connect func(ctx context.Context, name string) (*Driver, error)) *Pool {
	return &Pool{connect: connect, conns: map[string]*poolConn{}}
}

// Get returns the connection to builder name, connecting on the first call; a failed
// connection is not retried (every build on that builder reports the same error).
func (p *Pool) Get(ctx context.Context, name string) (*Driver, error) {
	p.mu.Lock()
	c := p.conns[name]
	if c == nil {
		c = &poolConn{}
		p.conns[name] = c
	}
	p.mu.Unlock()
	c.once.Do(func() { c.d, c.err = p.connect(ctx, name) })
	return c.d, c.err
}

// Close closes every connection made. Call it once the builds are over.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.d != nil {
			c.d.Close()
		}
	}
}
