package pin

import (
	"context"
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
		d, err := c.Digest(ctx, r)
		if err != nil {
			return "", registryError(err)
		}
		return d.String(), nil
	})
}

func registryError(err error) error {
	if oci.IsNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
