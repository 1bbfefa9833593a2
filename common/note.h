// Validation of free text (rule notes) and of identifiers (account, node).
//
// All functions are pure and thread-safe.
#ifndef EGRESS_COMMON_NOTE_H_
#define EGRESS_COMMON_NOTE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace egress {

inline constexpr size_t kMaxNoteCodePoints = 1000;
inline constexpr size_t kMaxIdentifierBytes = 63;

// OK if `note` is well-formed UTF-8 of at most kMaxNoteCodePoints code points
// without NUL, C0 control characters other than tab, LF and CR, or DEL.
// Empty is OK. Content is otherwise kept verbatim (quotes, SQL, HTML are just
// text; escaping is the job of whoever renders or stores it).
// InvalidArgument otherwise; the message gives the byte offset of the first
// bad byte (UTF-8 errors: overlong encodings, surrogates U+D800..U+DFFF,
// code points above U+10FFFF, stray continuation bytes, truncated sequences)
// or the code point count when the note is too long.
absl::Status ValidateNote(absl::string_view note);

// Number of code points in `valid_utf8`. Precondition: the text passed
// ValidateNote's UTF-8 checks (otherwise the count is meaningless but safe).
size_t CountCodePoints(absl::string_view valid_utf8);

// `text` made fit to store and show whatever it holds: well-formed UTF-8
// without control characters (tab and newline kept; CR escaped) comes back
// as it is;
// every other byte (NUL, other controls, DEL, bytes of malformed UTF-8)
// becomes the four characters "\xNN". For text from peers we report but do
// not refuse (an agent's nftables error), where dropping the message would
// lose the report.
std::string EscapeToPrintableUtf8(absl::string_view text);

// OK for 1..kMaxIdentifierBytes bytes of [a-z0-9._-] starting with [a-z0-9]
// (e.g. "acct-42", "node1.dc2"). Used for account and node ids, which appear
// in file names, nftables set names and logs. InvalidArgument otherwise,
// explaining the allowed form.
absl::Status ValidateIdentifier(absl::string_view id);

}  // namespace egress

#endif  // EGRESS_COMMON_NOTE_H_
