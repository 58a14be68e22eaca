package route

// RewritePath appends to dst the path to send upstream for path (the request path without
// query): with strip_path the matched prefix is removed, then backend.root is prepended,
// joined with exactly one '/'. The query string is not included; the engine appends it.
// The result is dst extended (it aliases dst's array when that has the capacity, and
// then allocates nothing); path is only read. Safe from any goroutine.
func (c *Compiled) RewritePath(dst, path []byte) []byte {
	return rewrite(dst, path, c.stripPath, c.Prefix, c.root)
}

func rewrite(dst, path []byte, stripPath bool, prefix, root string) []byte {
	rest := path
	if stripPath {
		if len(prefix) <= len(rest) && string(rest[:len(prefix)]) == prefix {
			rest = rest[len(prefix):]
		}
	}
	switch {
	case len(rest) == 0:
		dst = append(dst, root...)
	case root[len(root)-1] == '/' && rest[0] == '/':
		dst = append(dst, root...)
		dst = append(dst, rest[1:]...)
	case root[len(root)-1] != '/' && rest[0] != '/':
		dst = append(dst, root...)
		dst = append(dst, '/')
		dst = append(dst, rest...)
	default:
		dst = append(dst, root...)
		dst = append(dst, rest...)
	}
	return dst
}
