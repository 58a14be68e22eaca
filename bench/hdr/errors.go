package hdr

import "errors"

// ErrLayout means two histograms cannot merge because their SubBits or Max differ.
var ErrLayout = errors.New("hdr: histograms have different layouts")

// ErrConfig means New was given a SubBits or Max outside the supported range.
var ErrConfig = errors.New("hdr: invalid histogram configuration")
