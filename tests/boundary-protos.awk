# boundary-protos.awk: prints FILE:LINE: DECLARATION for every function
# declared, not defined, at file scope in a C file without "static": a
# private prototype written by hand, which the compiler cannot hold to the
# definition's signature (tests/boundary.sh). Exits 1 if there is one.
#
# Comments, strings and preprocessor lines are dropped; what is left at
# brace depth 0 is cut into statements at ";". A statement is such a
# declaration when it is not static, typedef or a static assertion, and
# its first identifier followed by "(" is not a type keyword, a macro (all
# capitals: TAILQ_HEAD(...);), or a pointer to a function (a variable).
# Function definitions, struct bodies and initializers end at their
# closing brace and are skipped. POSIX awk (Debian's mawk).
function flush_stmt(   s, t, i, d, c, name, rest) {
	s = stmt
	gsub(/[ \t\n]+/, " ", s)
	sub(/^ /, "", s)
	stmt = ""
	if (braced || s == "")
		return
	if (s ~ /^(static|typedef|_Static_assert|static_assert)[^A-Za-z0-9_]/)
		return
	# libFuzzer's entry point: it has no header to declare it.
	if (s ~ /[^A-Za-z0-9_]LLVMFuzzerTestOneInput *\(/)
		return
	# Drop attributes: they hold parentheses of their own.
	while (match(s, /__attribute__ *\(\(/)) {
		t = substr(s, RSTART + RLENGTH)
		d = 2
		for (i = 1; i <= length(t) && d > 0; i++) {
			c = substr(t, i, 1)
			if (c == "(") d++
			else if (c == ")") d--
		}
		s = substr(s, 1, RSTART - 1) substr(t, i)
	}
	if (!match(s, /[A-Za-z_][A-Za-z0-9_]* *\(/))
		return
	name = substr(s, RSTART, RLENGTH)
	sub(/ *\($/, "", name)
	rest = substr(s, RSTART + RLENGTH)
	if (rest ~ /^ *\*/)
		return		# a pointer to a function: a variable
	if (name ~ /^[A-Z0-9_]+$/)
		return		# a macro
	if (name ~ /^(void|char|short|int|long|float|double|signed|unsigned|const|volatile|sizeof|__typeof__|typeof|_Alignas|alignas)$/)
		return
	if (substr(s, 1, RSTART - 1) ~ /=/)
		return
	printf "%s:%d: %s\n", FILENAME, stmt_line, s
	found++
}
FNR == 1 { depth = 0; incomment = 0; stmt = ""; braced = 0; fn = 0; pp = 0 }
{
	line = $0
	# Preprocessor lines and their continuations.
	if (pp || (!incomment && line ~ /^[ \t]*#/)) {
		pp = line ~ /\\$/
		next
	}
	out = ""
	i = 1
	n = length(line)
	while (i <= n) {
		c = substr(line, i, 1)
		if (incomment) {
			if (c == "*" && substr(line, i + 1, 1) == "/") { incomment = 0; i += 2; continue }
			i++; continue
		}
		if (c == "/" && substr(line, i + 1, 1) == "*") { incomment = 1; i += 2; continue }
		if (c == "/" && substr(line, i + 1, 1) == "/") break
		if (c == "\"" || c == "'") {
			q = c; i++
			while (i <= n && substr(line, i, 1) != q) {
				if (substr(line, i, 1) == "\\") i++
				i++
			}
			i++
			out = out "0"
			continue
		}
		if (c == "{") {
			if (depth == 0) {
				t = stmt out
				sub(/[ \t\n]+$/, "", t)
				fn = t ~ /\)$/
				braced = 1
			}
			depth++
			out = out c
			i++
			continue
		}
		if (c == "}") {
			depth--
			out = out c
			i++
			if (depth == 0 && fn) { stmt = ""; out = ""; braced = 0; fn = 0 }
			continue
		}
		if (c == ";" && depth == 0) {
			stmt = stmt out
			out = ""
			flush_stmt()
			braced = 0
			i++
			continue
		}
		if (depth == 0 && (stmt out) !~ /[^ \t\n]/ && c !~ /[ \t]/)
			stmt_line = FNR
		out = out c
		i++
	}
	if (depth == 0 || braced)
		stmt = stmt out "\n"
}
END { exit found ? 1 : 0 }
