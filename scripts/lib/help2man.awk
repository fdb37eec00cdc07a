# Turns a System.CommandLine --help text into the body of a man page (roff),
# so that the package's man pages say exactly what --help says.
#
#   PROGRAM --help | awk -f scripts/lib/help2man.awk
#
# Sections ("Options:") become .SS headings, two-column rows (an option or
# argument, then two or more blanks, then its description) become .TP items,
# and every other line a paragraph.

function roff(text) {
  gsub(/\\/, "\\e", text)
  gsub(/-/, "\\-", text)
  sub(/^[.']/, "\\\\\\&&", text)
  return text
}

/^[A-Z][A-Za-z ]*:$/ { printf ".SS %s\n", roff(substr($0, 1, length($0) - 1)); next }
/^$/ { next }
/^  [^ ].*   *[^ ]/ {
  line = substr($0, 3)
  split_at = match(line, /   */)
  printf ".TP\n.B %s\n%s\n", roff(substr(line, 1, split_at - 1)), roff(substr(line, split_at + RLENGTH))
  next
}
{ sub(/^ +/, ""); printf ".PP\n%s\n", roff($0) }
