#include "common/note.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/field_status.h"

namespace egress {
namespace {

absl::Status BadUtf8(size_t offset, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("the text is not valid UTF-8: ", what, " at byte offset ", offset));
}

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

bool IsForbiddenControl(uint32_t code_point) {
  if (code_point == '\t' || code_point == '\n' || code_point == '\r') return false;
  return code_point < 0x20 || code_point == 0x7F;
}

}  // namespace

// A hand-written decoder rather than a library call because the messages
// must say where and why the text is bad, and because every rule of RFC 3629
// (shortest form, no surrogates, <= U+10FFFF) matters for text that is later
// shown in a browser.
absl::Status ValidateNote(absl::string_view note) {
  size_t code_points = 0;
  size_t i = 0;
  while (i < note.size()) {
    const size_t start = i;
    const uint8_t lead = static_cast<uint8_t>(note[i]);
    uint32_t code_point = 0;
    size_t length = 0;
    if (lead < 0x80) {
      code_point = lead;
      length = 1;
    } else if (IsContinuation(lead)) {
      return BadUtf8(start, "unexpected continuation byte");
    } else if (lead < 0xE0) {
      code_point = lead & 0x1F;
      length = 2;
    } else if (lead < 0xF0) {
      code_point = lead & 0x0F;
      length = 3;
    } else if (lead < 0xF8) {
      code_point = lead & 0x07;
      length = 4;
    } else {
      return BadUtf8(start, absl::StrFormat("invalid byte 0x%02X", lead));
    }
    if (note.size() - start < length) {
      return BadUtf8(start, "sequence truncated by the end of the text");
    }
    for (size_t k = 1; k < length; ++k) {
      const uint8_t byte = static_cast<uint8_t>(note[start + k]);
      // Offsets name the start of the bad sequence, as most decoders do.
      if (!IsContinuation(byte)) return BadUtf8(start, "sequence missing a continuation byte");
      code_point = (code_point << 6) | (byte & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[length]) return BadUtf8(start, "overlong encoding");
    if (code_point >= 0xD800 && code_point <= 0xDFFF) {
      return BadUtf8(start, absl::StrFormat("surrogate U+%04X", code_point));
    }
    if (code_point > 0x10FFFF) return BadUtf8(start, "code point above U+10FFFF");
    if (IsForbiddenControl(code_point)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("the text contains control character U+%04X at byte offset %d; only tab, "
                          "newline and carriage return are allowed",
                          code_point, start));
    }
    ++code_points;
    i = start + length;
  }
  if (code_points > kMaxNoteCodePoints) {
    return absl::InvalidArgumentError(absl::StrCat("the text has ", code_points,
                                                   " characters (code points), at most ",
                                                   kMaxNoteCodePoints, " are allowed"));
  }
  return absl::OkStatus();
}

std::string EscapeToPrintableUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    // The longest well-formed sequence starting here (1..4 bytes): reuse
    // ValidateNote's rules on it.
    size_t length = 1;
    const uint8_t lead = static_cast<uint8_t>(text[i]);
    if (lead >= 0xF0) {
      length = 4;
    } else if (lead >= 0xE0) {
      length = 3;
    } else if (lead >= 0xC0) {
      length = 2;
    }
    const absl::string_view sequence = text.substr(i, length);
    const bool keep = sequence.size() == length && sequence != "\r" && ValidateNote(sequence).ok();
    if (keep) {
      out.append(sequence.data(), sequence.size());
      i += length;
    } else {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", lead));
      i += 1;
    }
  }
  return out;
}

size_t CountCodePoints(absl::string_view valid_utf8) {
  size_t count = 0;
  for (char c : valid_utf8) {
    if (!IsContinuation(static_cast<uint8_t>(c))) ++count;
  }
  return count;
}

absl::Status ValidateIdentifier(absl::string_view id) {
  auto invalid = [id](absl::string_view reason) {
    return absl::InvalidArgumentError(absl::StrCat(
        QuoteForMessage(id), " is not a valid identifier: ", reason, "; use 1 to ",
        kMaxIdentifierBytes,
        " characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit"));
  };
  if (id.empty()) return invalid("it is empty");
  if (id.size() > kMaxIdentifierBytes) {
    return invalid(absl::StrCat("it is ", id.size(), " bytes long"));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (i == 0 && !alnum) return invalid("it must start with a lower-case letter or digit");
    if (!alnum && c != '.' && c != '_' && c != '-') {
      return invalid(absl::StrCat("character at offset ", i, " is not allowed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace egress
