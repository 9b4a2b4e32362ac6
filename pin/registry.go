package pin

import (
	"context"
	"errors"
	"fmt"

	"github.com/urmanac/sovos/internal/oci"
)

// Registry resolves image references through sovos's registry client (its credentials,
// insecure_registries and deadlines) as `crane digest` does: a HEAD of the manifest,
// whose digest is the index's for a multi-platform image, and a GET where a registry
// answers HEAD without a digest or not at all.
func Registry(c *oci.Client) ImageResolver {
	return ImageFunc(func(ctx context.Context, ref string) (string, error) {
		r, err := c.ParseReference(ref)
		if err != nil {
			return "", fmt.Errorf("image reference %q: %w", ref, err)
		}
		desc, err := c.Head(ctx, r)
		if err == nil {
			return desc.Digest.String(), nil
		}
		if oci.IsNotFound(err) || unreachable(err) || ctx.Err() != nil {
			return "", registryError(err)
		}
		got, err := c.Get(ctx, r)
		if err != nil {
			return "", registryError(err)
		}
		return got.Digest.String(), nil
	})
}

// unreachable reports a failure a GET would only repeat: the registry could not be
// spoken to at all.
func unreachable(err error) bool {
	var (
		ph *oci.PlainHTTPError
		te *oci.TimeoutError
		ue *oci.UnreachableError
		pe *oci.PingError
	)
	return errors.As(err, &ph) || errors.As(err, &te) || errors.As(err, &ue) || errors.As(err, &pe)
}

func registryError(err error) error {
	if oci.IsNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
