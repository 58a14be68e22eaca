package core

import "github.com/torii-gateway/torii/httpparse"

// normalizeRequestPath puts the path of req, parsed from buf, in its normal
// form (httpparse.NormalizePath): the form routing, the PublicPrivatePaths
// and ApikeyCalls patterns and the backend all see, so that "/%61dmin",
// "//admin", "/./admin" and "/x/../admin" all take the "/admin" route, with
// whatever protects it, and reach the backend as "/admin".
//
// The path is rewritten in place inside buf, the peeked request head: a
// normal form is never longer than the path, and writing it there means every
// reader of req.Path (route.Table.Match, apikey.Policy.Check, the forwarded
// head) reads the same bytes without a copy or a second span. It is written
// right-aligned to the old end of the path, and the bytes of the target
// before the path (an absolute-form "http://host") are moved up with it, so
// req.Target stays one contiguous run (target, path, "?", query) and
// req.Host, when it is the target's authority, still points at it. The
// query is never touched. Paths that need nothing (nearly all) cost one scan
// and no write.
//
// It returns the parser's error (status 400) for a path no normal form can
// make safe; req and buf are then left half rewritten and the request must be
// refused. Runs on the loop, before anything reads req.Path; buf dies with
// the head's Discard as always. Does not allocate.
func normalizeRequestPath(req *httpparse.Request, buf []byte) error {
	if req.Form != httpparse.FormOrigin && req.Form != httpparse.FormAbsolute {
		return nil
	}
	path := req.Path.Bytes(buf)
	if len(path) == 0 || httpparse.PathIsNormal(path) {
		return nil
	}
	out, err := httpparse.NormalizePath(path[:0], path)
	if err != nil {
		return err
	}
	shift := int32(len(path) - len(out))
	if shift == 0 {
		return nil
	}
	end := req.Path.End
	copy(buf[end-int32(len(out)):end], out)
	start, pathStart := req.Target.Start, req.Path.Start
	copy(buf[start+shift:pathStart+shift], buf[start:pathStart])
	if req.Form == httpparse.FormAbsolute && req.Host.Start >= start && req.Host.End <= pathStart {
		req.Host.Start += shift
		req.Host.End += shift
	}
	req.Target.Start += shift
	req.Path.Start += shift
	return nil
}
