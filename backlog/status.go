package backlog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/communehub/communehub/hub"
)

// The national portal's dossier status codes (TrangThaiHoSo).
const (
	StatusSubmitted  = 1  // Mới đăng ký: submitted online, not yet received
	StatusReceived   = 2  // Được tiếp nhận
	StatusRefused    = 3  // Không được tiếp nhận
	StatusProcessing = 4  // Đang xử lý
	StatusSupplement = 5  // Yêu cầu bổ sung giấy tờ (clock paused)
	StatusFinancial  = 6  // Yêu cầu thực hiện nghĩa vụ tài chính (clock paused)
	StatusWithdrawn  = 7  // Công dân yêu cầu rút hồ sơ
	StatusStopped    = 8  // Dừng xử lý
	StatusDone       = 9  // Đã xử lý xong
	StatusReturned   = 10 // Đã trả kết quả
)

// StatusNames are the portal's Vietnamese labels.
var StatusNames = map[int]string{
	1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận", 4: "Đang xử lý",
	5: "Yêu cầu bổ sung giấy tờ", 6: "Yêu cầu thực hiện nghĩa vụ tài chính",
	7: "Công dân yêu cầu rút hồ sơ", 8: "Dừng xử lý", 9: "Đã xử lý xong", 10: "Đã trả kết quả",
}

// transitions is the dossier state machine: the statuses each status may
// move to. A sync may skip intermediate steps (2 → 10 when the result is
// handed over on the spot), but nothing leaves a closed status except
// 9 → 10, and nothing goes back to "not received".
var transitions = map[int][]int{
	StatusSubmitted:  {StatusReceived, StatusRefused, StatusWithdrawn},
	StatusReceived:   {StatusProcessing, StatusSupplement, StatusFinancial, StatusWithdrawn, StatusStopped, StatusDone, StatusReturned},
	StatusRefused:    {},
	StatusProcessing: {StatusSupplement, StatusFinancial, StatusWithdrawn, StatusStopped, StatusDone, StatusReturned},
	StatusSupplement: {StatusProcessing, StatusFinancial, StatusWithdrawn, StatusStopped, StatusDone, StatusReturned},
	StatusFinancial:  {StatusProcessing, StatusSupplement, StatusWithdrawn, StatusStopped, StatusDone, StatusReturned},
	StatusWithdrawn:  {},
	StatusStopped:    {},
	StatusDone:       {StatusReturned},
	StatusReturned:   {},
}

// AllowedTransitions returns the statuses a dossier in status from may move to.
func AllowedTransitions(from int) []int { return slices.Clone(transitions[from]) }

// checkTransition returns nil when from → to is allowed (or no change), else
// a 409 naming the allowed transitions.
func checkTransition(from, to int) error {
	if from == to || slices.Contains(transitions[from], to) {
		return nil
	}
	allowed := transitions[from]
	list := make([]string, len(allowed))
	for i, s := range allowed {
		list[i] = fmt.Sprintf("%d (%s)", s, StatusNames[s])
	}
	msg := "none: the dossier is closed"
	if len(list) > 0 {
		msg = strings.Join(list, ", ")
	}
	return &hub.Error{
		Code:    hub.EConflict,
		Field:   "TrangThaiHoSo",
		Message: fmt.Sprintf("status %d (%s) cannot change to %d (%s); allowed from %d: %s", from, StatusNames[from], to, StatusNames[to], from, msg),
		Details: map[string]any{"from": from, "to": to, "allowed": allowedOrEmpty(allowed)},
	}
}

func allowedOrEmpty(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// stateOf folds a status: 0 not received (1, 3), 1 open, 2 closed.
func stateOf(status int) int {
	switch status {
	case StatusSubmitted, StatusRefused:
		return 0
	case StatusWithdrawn, StatusStopped, StatusDone, StatusReturned:
		return 2
	}
	return 1
}

func isPauseStatus(s int) bool { return s == StatusSupplement || s == StatusFinancial }

func isFinished(s int) bool { return s == StatusDone || s == StatusReturned }
