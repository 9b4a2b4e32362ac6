package operation_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/state"
)

// TestStateWriteInterrupted: state rm and state push whose context is cancelled (Ctrl-C)
// before their write write nothing, release the lock, and say so (ErrInterrupted).
func TestStateWriteInterrupted(t *testing.T) {
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": offlineConfig})
	if _, err := operation.Apply(context.Background(), operation.ApplyRequest{Inputs: in}); err != nil {
		t.Fatal(err)
	}
	b, err := state.NewLayout(filepath.Join(in.Dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	before, _, err := b.Read(context.Background())
	if err != nil || before == nil {
		t.Fatalf("state: %v", err)
	}
	data, err := state.Encode(before)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	_, err = operation.StateRm(cancelled, operation.StateRmRequest{Inputs: in, Addresses: []string{`profile.p["a"]`}})
	var ie *operation.InterruptedError
	if !errors.Is(err, operation.ErrInterrupted) || !errors.As(err, &ie) ||
		err.Error() != "state rm interrupted: nothing was removed. Run the same `sovos state rm` again" {
		t.Errorf("state rm interrupted: %v", err)
	}
	_, err = operation.StatePush(cancelled, operation.StatePushRequest{Inputs: in, File: "-", Stdin: strings.NewReader(string(data))})
	if !errors.Is(err, operation.ErrInterrupted) || !strings.HasPrefix(err.Error(), "state push interrupted: nothing was stored.") {
		t.Errorf("state push interrupted: %v", err)
	}
	if after, _, _ := b.Read(context.Background()); after.Serial != before.Serial {
		t.Errorf("an interrupted state rm|push wrote serial %d (was %d)", after.Serial, before.Serial)
	}
	// The lock was released: the next one takes it at once.
	if w, err := operation.StateRm(context.Background(), operation.StateRmRequest{Inputs: in, Addresses: []string{`profile.p["a"]`}}); err != nil || w.Serial != before.Serial+1 {
		t.Errorf("state rm after the interrupts: %+v, %v", w, err)
	}
}
