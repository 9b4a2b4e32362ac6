package bkdriver

// The BuildKit client dials unix:// and tcp:// itself; other address schemes are
// registered by these connection helpers (they run `docker exec`, `ssh`, `kubectl
// exec`... buildctl dial-stdio), as buildctl registers them.
import (
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)
