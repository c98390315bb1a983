package service

// Close closes every producer the service made (the shared results
// producer; pipelines and sources close their own when Run returns). Call
// it after Run returned; it is safe to call twice and on a service that
// never ran.
func (s *Service) Close() error {
	return s.deps.closeProducer()
}

func (d *Deps) closeProducer() error {
	d.prodMu.Lock()
	defer d.prodMu.Unlock()
	if d.prod == nil {
		return nil
	}
	err := d.prod.Close()
	d.prod = nil
	return err
}
