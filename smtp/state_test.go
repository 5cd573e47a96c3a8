package smtp

import "testing"

// TestClientTransitions reads the client side's transition table
// (nextClientState) row by row, reply-driven changes included.
func TestClientTransitions(t *testing.T) {
	tests := []struct {
		from clientState
		ev   clientEvent
		want clientState
	}{
		{clientCommand, clientEvent{in: evCommand, verb: verbMAIL}, clientCommand},
		{clientCommand, clientEvent{in: evCommand, verb: verbDATA}, clientDataWait},
		{clientResync, clientEvent{in: evCommand, verb: verbSTARTTLS}, clientStartTLS},
		{clientAuth, clientEvent{in: evCommand, verb: verbAUTH}, clientAuth},
		{clientCommand, clientEvent{in: evCommand, verb: verbBDAT, valid: true, size: 10}, clientChunk},
		{clientCommand, clientEvent{in: evCommand, verb: verbBDAT, valid: true, size: 0}, clientCommand},
		{clientCommand, clientEvent{in: evCommand, verb: verbBDAT, valid: false, size: 10}, clientCommand},
		{clientCommand, clientEvent{in: evCommand, verb: verbXEXCH50, valid: true, size: 10}, clientBlobWait},
		{clientDataWait, clientEvent{in: evReply, verb: verbDATA, code: 354}, clientBody},
		{clientResync, clientEvent{in: evReply, verb: verbDATA, code: 354, afterGap: true}, clientBodyGap},
		{clientResync, clientEvent{in: evReply, verb: verbDATA, code: 354}, clientResync},
		{clientBody, clientEvent{in: evReply, verb: verbDATA, code: 354}, clientBody},
		{clientDataWait, clientEvent{in: evReply, verb: verbDATA, code: 554}, clientCommand},
		{clientBody, clientEvent{in: evReply, verb: verbDATA, code: 503, current: true}, clientCommand},
		{clientBody, clientEvent{in: evReply, verb: verbDATA, code: 503}, clientBody},
		{clientStartTLS, clientEvent{in: evReply, verb: verbSTARTTLS, code: 220}, clientTLSHello},
		{clientStartTLS, clientEvent{in: evReply, verb: verbSTARTTLS, code: 454}, clientCommand},
		{clientCommand, clientEvent{in: evReply, verb: verbSTARTTLS, code: 454}, clientCommand},
		{clientAuth, clientEvent{in: evReply, verb: verbAUTH, code: 334}, clientAuth},
		{clientAuth, clientEvent{in: evReply, verb: verbAUTH, code: 235}, clientCommand},
		{clientBlobWait, clientEvent{in: evReply, verb: verbXEXCH50, code: 354}, clientBlob},
		{clientBlobWait, clientEvent{in: evReply, verb: verbXEXCH50, code: 503}, clientCommand},
		{clientCommand, clientEvent{in: evReply, verb: verbMAIL, code: 250}, clientCommand},
		{clientDataWait, clientEvent{in: evEarlyBody}, clientBody},
		{clientBlobWait, clientEvent{in: evEarlyBody}, clientBlob},
		{clientBody, clientEvent{in: evBodyEnd}, clientCommand},
		{clientChunk, clientEvent{in: evBodyEnd}, clientCommand},
		{clientResync, clientEvent{in: evBodyInGap}, clientBodyGap},
		{clientLineTail, clientEvent{in: evLineEnd}, clientCommand},
		{clientCommand, clientEvent{in: evForeignLine}, clientResync},
		{clientAuth, clientEvent{in: evForeignLine}, clientAuth},
		{clientResync, clientEvent{in: evGreeting}, clientCommand},
		{clientResync, clientEvent{in: evGreeting, afterGap: true}, clientResync},
		{clientCommand, clientEvent{in: evLineAnswered}, clientLineTail},
		{clientBodyGap, clientEvent{in: evEndOfDataLost}, clientResync},
		{clientStartTLS, clientEvent{in: evTLS}, clientTLSHello},
		{clientTLSHello, clientEvent{in: evHelloRead}, clientOpaque},
		{clientTLSHello, clientEvent{in: evGap}, clientOpaque},
		{clientBody, clientEvent{in: evGap}, clientBodyGap},
		{clientChunk, clientEvent{in: evGap, within: true}, clientChunk},
		{clientChunk, clientEvent{in: evGap}, clientResync},
		{clientCommand, clientEvent{in: evGap}, clientResync},
		{clientBody, clientEvent{in: evStop}, clientOpaque},
	}
	for _, tc := range tests {
		if got := nextClientState(tc.from, tc.ev); got != tc.want {
			t.Errorf("nextClientState(%d, %+v) = %d, want %d", tc.from, tc.ev, got, tc.want)
		}
	}
}

// TestServerTransitions reads the server side's transition table.
func TestServerTransitions(t *testing.T) {
	tests := []struct {
		from serverState
		ev   serverEvent
		want serverState
	}{
		{serverReplyStart, serverEvent{in: evReplyOpened}, serverReplyContinue},
		{serverReplyContinue, serverEvent{in: evReplyClosed}, serverReplyStart},
		{serverCutReply, serverEvent{in: evCutReplyLine, more: true}, serverCutReplyRest},
		{serverCutReplyRest, serverEvent{in: evCutReplyLine}, serverReplyStart},
		{serverReplyContinue, serverEvent{in: evServerGap, more: true}, serverCutReply},
		{serverReplyStart, serverEvent{in: evServerGap}, serverResync},
		{serverOpaque, serverEvent{in: evServerGap}, serverOpaque},
		{serverReplyStart, serverEvent{in: evServerTLS}, serverOpaque},
		{serverResync, serverEvent{in: evServerStop}, serverOpaque},
	}
	for _, tc := range tests {
		if got := nextServerState(tc.from, tc.ev); got != tc.want {
			t.Errorf("nextServerState(%d, %+v) = %d, want %d", tc.from, tc.ev, got, tc.want)
		}
	}
}

// TestTxnTransitions reads the transactions' transition table.
func TestTxnTransitions(t *testing.T) {
	tests := []struct {
		from txnPhase
		in   txnInput
		left txnPhase
		want txnPhase
	}{
		{txnEnvelope, txnBodyBegins, 0, txnBody},
		{txnBody, txnBodyRefused, 0, txnEnvelope},
		{txnEnvelope, txnBodyRefused, 0, txnEnvelope},
		{txnBody, txnDataEnds, 0, txnAwaitReply},
		{txnAwaitReply, txnFinalReplied, 0, txnReplied},
		{txnEnvelope, txnLeft, 0, txnAbandoned},
		{txnBody, txnLeft, 0, txnAbandoned},
		{txnAwaitReply, txnLeft, 0, txnAwaitReply},
		{txnAbandoned, txnResumed, txnBody, txnBody},
		{txnAbandoned, txnResumed, txnEnvelope, txnEnvelope},
		{txnReplied, txnResumed, txnEnvelope, txnReplied},
		{txnEnvelope, txnUntied, 0, txnReplied},
	}
	for _, tc := range tests {
		if got := nextTxnPhase(tc.from, tc.in, tc.left); got != tc.want {
			t.Errorf("nextTxnPhase(%d, %d, %d) = %d, want %d", tc.from, tc.in, tc.left, got, tc.want)
		}
	}
}

// TestInferTransitions reads the TLS inference's transition table: a cut
// record is counted once, and only after the handshake.
func TestInferTransitions(t *testing.T) {
	tests := []struct {
		from inferState
		in   inferInput
		want inferState
	}{
		{inferHandshake, inferRecord, inferEstablished},
		{inferEstablished, inferRecord, inferEstablished},
		{inferCut, inferRecord, inferCut},
		{inferHandshake, inferEndedInRecord, inferHandshake},
		{inferEstablished, inferEndedInRecord, inferCut},
		{inferCut, inferEndedInRecord, inferCut},
	}
	for _, tc := range tests {
		if got := nextInferState(tc.from, tc.in); got != tc.want {
			t.Errorf("nextInferState(%d, %d) = %d, want %d", tc.from, tc.in, got, tc.want)
		}
	}
}
