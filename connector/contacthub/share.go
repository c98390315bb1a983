package contacthub

import "golang.org/x/time/rate"

// minShare is the smallest share SetShare paces at: a process that owns no
// partition sends (almost) nothing, and a limiter of rate 0 would never
// let its rare request (a throttling read) through.
const minShare = 0.001

// SetShare makes the client pace at share (0 to 1) of the workspace's
// limit, the part that is this process's when several replicas of the
// connector spend one workspace's maxRequestsPerMinute: each paces at its
// share of the events pipelines' partitions (streams.PipelineConfig.OnShare),
// and the shares of the replicas sum to one. It applies at once, to the
// throttling read now and to every one read later. Without a call the
// share is 1: the process is alone.
func (c *Client) SetShare(share float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.share = min(1, max(minShare, share))
	c.applyPace()
}

// Share is the share of the workspace's limit the client paces at.
func (c *Client) Share() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.share
}

// PaceLimit is the requests per second the client sends at most now (rate.Inf:
// unthrottled).
func (c *Client) PaceLimit() rate.Limit { return c.limiter.Limit() }
