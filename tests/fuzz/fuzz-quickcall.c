/* fuzz-quickcall.c: what the hooks and Patroni's callback read back from
 * balloond (proto/quickcall.c), on whatever the bytes make.
 * - The whole input as the daemon's side of the conversation (framed
 *   into lines, the greeting first): any bytes end in an answer or an
 *   error, never a crash, a leak or a hang.
 * - Each line against json-c: a greeting read without json-c must be one
 *   json-c reads as balloond's, of this protocol. (A result is taken on
 *   its first bytes and its last, {"id":1,"result": and }, as balloond
 *   writes it: only balloond answers on its socket, and what the caller
 *   reads of a result, at_max, is read by json-c.) */
#include <fcntl.h>
#include <unistd.h>

#include "proto/quickcall.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_object *member_of(json_object *o, const char *key)
{
	json_object *v = NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int check_line(char *line, size_t len, void *data)
{
	(void)data;
	json_object *o = json_tokener_parse(line);
	if (greeting_usual(line)) {
		json_object *p =
		    member_of(member_of(o, "balloond"), "protocol");
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_is_type(p, json_type_int) ||
		    json_object_get_int64(p) != BD_PROTOCOL_VERSION)
			abort();
	}
	/* And as an answer, with at_max read or not. */
	struct bd_quickcall c = {.timeout_ms = 1000, .greeted_ = true};
	(void)reply_check(&c, line, len);
	c.want_at_max = true;
	(void)reply_check(&c, line, len);
	json_object_put(o);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A pipe holds the whole input: the conversation reads it to its
	 * end, and EOF ends it. */
	if (size > 60000)
		return 0;
	int fds[2];
	if (pipe(fds))
		abort();
	if (size && write(fds[1], data, size) != (ssize_t)size)
		abort();
	close(fds[1]);
	struct bd_quickcall c = {.timeout_ms = 1000, .at_max = -1};
	c.want_at_max = size && data[0] & 1;
	(void)converse(&c, fds[0], mono_ms() + 1000);
	close(fds[0]);

	struct framer fr;
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	framer_init(&fr, BD_MAX_REPLY_BYTES);
	(void)framer_feed(&fr, copy, size, check_line, NULL);
	framer_free(&fr);
	free(copy);
	return 0;
}
