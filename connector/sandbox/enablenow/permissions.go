package enablenow

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// What the credential may do. The reference shows neither authentication
// nor an error answer, so the stand-in gives the two 403s a client must
// tell apart, each from a rule of its own:
//
//   - a revoked credential (Config.Revoked, SetRevoked): the token is still
//     the configured one, but every API request carrying it is answered
//     403, monitoring included: nothing a client asks can work;
//   - a subject the credential may not categorize (Config.ForbiddenSubjects,
//     SetForbiddenSubjects), as for a consent withdrawn in the AppScreen or
//     a user of another organisation: creating a job that names one, and
//     reading a job created for one, is answered 403, while every other
//     request works. The subject is read by this package's own rules
//     (rules.go), never the connector's.
//
// A wrong or missing credential stays a 401 (authenticate), checked first.

// permissions are the run-time settings of what the credential may do.
type permissions struct {
	revoked bool
	// forbidden are subject ids: a consentId, userId, externalUserId or
	// one of accountIds.
	forbidden map[string]bool
}

// SetRevoked revokes the credential (true: every API request is answered
// 403) or gives it back (false); Config.Revoked is the initial setting.
func (s *Server) SetRevoked(revoked bool) {
	s.permMu.Lock()
	defer s.permMu.Unlock()
	p := *s.perms.Load()
	p.revoked = revoked
	s.perms.Store(&p)
}

// SetForbiddenSubjects replaces the subjects the credential may not
// categorize (Config.ForbiddenSubjects); none forbids nothing.
func (s *Server) SetForbiddenSubjects(ids ...string) {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	s.permMu.Lock()
	defer s.permMu.Unlock()
	p := *s.perms.Load()
	p.forbidden = m
	s.perms.Store(&p)
}

// refuseRevoked answers 403 when the credential is revoked, and reports
// whether it did.
func (s *Server) refuseRevoked(w http.ResponseWriter) bool {
	if !s.perms.Load().revoked {
		return false
	}
	s.stats.revoked.Add(1)
	writeError(w, http.StatusForbidden, apiError{Message: "the credential was revoked"})
	return true
}

// forbiddenSubject returns the path of the first subject of req the
// credential may not categorize, or "" when it may categorize them all.
// Only an e1 request names its subject in fields the reference documents;
// another engine's is not read.
func (s *Server) forbiddenSubject(req *Request) string {
	forbidden := s.perms.Load().forbidden
	if len(forbidden) == 0 || req.Body != nil {
		return ""
	}
	for _, f := range []struct{ path, id string }{
		{"$.consentId", req.ConsentID}, {"$.userId", req.UserID}, {"$.externalUserId", req.ExternalUserID},
	} {
		if f.id != "" && forbidden[f.id] {
			return f.path
		}
	}
	if i := slices.IndexFunc(req.AccountIDs, func(id string) bool { return forbidden[id] }); i >= 0 {
		return "$.accountIds[" + strconv.Itoa(i) + "]"
	}
	return ""
}

// refuseSubject answers 403 naming the subject's path when the credential
// may not categorize one of req's subjects, and reports whether it did.
func (s *Server) refuseSubject(w http.ResponseWriter, req *Request, what string) bool {
	path := s.forbiddenSubject(req)
	if path == "" {
		return false
	}
	s.stats.forbidden.Add(1)
	writeError(w, http.StatusForbidden, apiError{
		Message: fmt.Sprintf("the credential may not %s this subject", what),
		Errors:  []fieldError{{Path: path, Message: "a subject the credential may not categorize"}},
	})
	return true
}
