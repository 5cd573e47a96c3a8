package main

func (s *clientSession) runRaw() {
	s.sess["error"] = "proto " + s.cfg.proto + " not implemented yet"
}
