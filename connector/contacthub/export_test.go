package contacthub

// SandboxClientOptions lets the tests of package contacthub_test build
// their clients of the sandbox as the package's own tests do.
var SandboxClientOptions = testClientOptions
