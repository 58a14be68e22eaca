package event

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// fileSink appends NDJSON to a file and rotates it by size: when the next
// document would push the file past MaxFileSize, path.N-1 … path.1 shift up
// by one, path becomes path.1, and only MaxNumberOfFile rotated files are
// kept. A single document larger than MaxFileSize still gets written, alone.
type fileSink struct {
	cfg  FileConfig
	f    *os.File
	size int64
	buf  []byte
}

func openFileSink(cfg FileConfig) (*fileSink, error) {
	s := &fileSink{cfg: cfg}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("cannot open event file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("cannot stat event file: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

func (s *fileSink) write(_ context.Context, batch [][]byte) (int, error) {
	if err := s.writeBatch(batch); err != nil {
		return 1, err
	}
	return 0, nil
}

func (s *fileSink) writeBatch(batch [][]byte) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0]
	pending := int64(0)
	for _, d := range batch {
		need := int64(len(d) + 1)
		if s.size+pending > 0 && s.size+pending+need > s.cfg.MaxFileSize {
			if err := s.flush(); err != nil {
				return err
			}
			if err := s.rotate(); err != nil {
				return err
			}
			pending = 0
		}
		s.buf = append(s.buf, d...)
		s.buf = append(s.buf, '\n')
		pending += need
	}
	return s.flush()
}

func (s *fileSink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	s.buf = s.buf[:0]
	if err != nil {
		return fmt.Errorf("cannot write event file: %w", err)
	}
	return nil
}

func (s *fileSink) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("cannot close event file: %w", err)
	}
	s.f = nil
	name := func(i int) string { return s.cfg.Path + "." + strconv.Itoa(i) }
	if s.cfg.MaxNumberOfFile == 0 {
		if err := os.Remove(s.cfg.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot rotate event file: %w", err)
		}
		return s.open()
	}
	if err := os.Remove(name(s.cfg.MaxNumberOfFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot rotate event file: %w", err)
	}
	for i := s.cfg.MaxNumberOfFile - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot rotate event file: %w", err)
		}
	}
	if err := os.Rename(s.cfg.Path, name(1)); err != nil {
		return fmt.Errorf("cannot rotate event file: %w", err)
	}
	return s.open()
}

func (s *fileSink) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("cannot close event file: %w", err)
	}
	return nil
}
