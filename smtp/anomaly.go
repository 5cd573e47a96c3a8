package smtp

// Anomalies: their names and how they are recorded.

import (
	"fmt"
)

// anomalyf records an anomaly, within the bounds.
func (d *Decoder) anomalyf(name string, frame int, format string, args ...any) {
	if d.perName == nil {
		d.perName = make(map[string]int)
	}
	d.perName[name]++
	if d.perName[name] > maxAnomaliesPerName || len(d.s.Anomalies) >= d.opts.MaxAnomalies {
		d.s.AnomaliesDropped++
		return
	}
	d.s.Anomalies = append(d.s.Anomalies, Anomaly{Name: name, Frame: frame, Detail: fmt.Sprintf(format, args...)})
}

// anomalyOnce records an anomaly only the first time it happens.
func (d *Decoder) anomalyOnce(name string, frame int, detail string) {
	if d.perName[name] > 0 {
		d.perName[name]++
		return
	}
	d.anomalyf(name, frame, "%s", detail)
}
