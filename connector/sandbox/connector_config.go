package sandbox

import "fmt"

// The sections of a connector config that point it at a sandbox served at
// url (Sandbox.URL, or the address cmd/sandbox serves on), with the
// sandbox's credentials. Tests, the benchmark harness and the demo write
// them the same way; each ends with a newline and leaves its section open,
// so that the caller may add keys of its own (indented two spaces) after it.

// ContacthubSection is the contacthub section: the mount of the stand-in,
// its workspace and token.
func ContacthubSection(url string) string {
	return fmt.Sprintf("contacthub:\n  base_url: %s\n  workspace_id: %s\n  token: %s\n",
		url+ContacthubPrefix, WorkspaceID, ContacthubToken)
}

// UPSSection is the ups section, with clientSecret as the config is to
// spell it: UPSClientSecret, or a ${VAR} reference to it, for a test of the
// expansion of the environment.
func UPSSection(url, clientSecret string) string {
	return fmt.Sprintf("ups:\n  base_url: %s\n  api_key: %q\n  client_id: %s\n  client_secret: %s\n",
		url, UPSAPIKey, UPSClientID, clientSecret)
}

// EnableNowSection is the enablenow section.
func EnableNowSection(url string) string {
	return fmt.Sprintf("enablenow:\n  base_url: %s\n  token: %s\n", url, EnableNowToken)
}
