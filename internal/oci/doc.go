// Package oci is sovos's one registry client: every call sovos makes to an OCI registry
// (state, image digests, refresh, promotion, certificates, verification) goes through a
// Client, so references, plain HTTP, credentials, deadlines and retries are decided here
// and nowhere else.
//
// A Client parses references (Client.ParseReference, Client.NewRepository...), answers
// "is this registry plain HTTP?" (Insecure: only the hosts of insecure_registries, never
// go-containerregistry's loopback and private-address heuristics), finds credentials in
// the Docker config and its credential helpers (authn.DefaultKeychain, DOCKER_CONFIG),
// and builds the remote.Options every caller passes to go-containerregistry.
//
// Its transport guarantees, for every HTTP request (SPEC §7 "Registry calls"):
//
//   - Plain HTTP only to hosts listed in insecure_registries. A request for http:// to
//     any other host is sent as https:// (so go-containerregistry's http fallback never
//     happens), and a registry that answers HTTPS with plain HTTP gives a PlainHTTPError
//     naming the host and saying to list it.
//   - A deadline: no request waits more than the timeout (default 30s,
//     SOVOS_REGISTRY_TIMEOUT) without progress. Connecting, sending the request and
//     receiving the response headers must happen within the timeout, which every byte
//     of request body sent restarts; reading the response body, each read must deliver
//     data within the timeout. So a 1 GiB blob can take as long as it needs while it
//     moves, and a registry that goes silent is given up on after the timeout.
//   - Retries of transient failures: 5xx (except 501 and 505), 408, 429 (waiting what
//     Retry-After asks, when that is within the timeout), a reset or dropped
//     connection, and a timed-out attempt. At most 3 attempts per request, 250 ms then
//     500 ms apart, the body resent each time (Request.GetBody).
//   - A blob upload whose body was cut off mid-way is not resent into the same upload
//     session (the registry may hold part of it): the upload of that blob restarts, with
//     the same policy (3 attempts, 250 ms then 500 ms). go-containerregistry's own
//     retries are switched off in favour of these.
//
// IsNotFound tells "the registry answered 404 for this manifest, tag list or blob" from
// everything else: a 404 on the /v2/ ping is not a missing manifest but a wrong address,
// so no caller mistakes it for "no state yet".
package oci
