/* spool.c: writing and parsing spooled requests. */
#include "spool.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int bd_spool_write(const char *state_dir, enum bd_method method,
		   json_object *params, char *err, size_t err_len)
{
	char dir[BD_FILE_PATH_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", state_dir,
			     BD_SPOOL_DIR) >= sizeof(dir)) {
		snprintf(err, err_len, "state directory path too long");
		return -ENAMETOOLONG;
	}
	return bd_spool_write_dir(dir, method, params, err, err_len);
}

int bd_spool_write_dir(const char *dir, enum bd_method method,
		       json_object *params, char *err, size_t err_len)
{
	if (method != BD_M_REGISTER && method != BD_M_UNREGISTER &&
	    method != BD_M_ROLE) {
		snprintf(err, err_len, "%s cannot be spooled",
			 bd_method_name(method));
		return -EINVAL;
	}
	json_object *req = json_object_new_object();
	json_object_object_add(req, "method",
			       json_object_new_string(bd_method_name(method)));
	json_object_object_add(req, "params",
			       params ? json_object_get(params)
				      : json_object_new_object());
	size_t len;
	const char *text = json_object_to_json_string_length(
	    req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	/* The line and its newline. */
	char *line = malloc(len + 1);
	int rc = -ENOMEM;
	if (line) {
		memcpy(line, text, len);
		line[len] = '\n';
		rc = bd_spool_write_text(dir, line, len + 1, err, err_len);
		free(line);
	} else {
		snprintf(err, err_len, "out of memory");
	}
	json_object_put(req);
	return rc;
}

int bd_spool_parse(const char *text, size_t len, enum bd_method *method,
		   json_object **params, char *msg, size_t msg_len)
{
	struct bd_request req;
	int64_t id;
	/* The same shape as a control request, minus the id: give it one. */
	json_tokener *tok = json_tokener_new();
	if (!tok) {
		snprintf(msg, msg_len, "out of memory");
		return -ENOMEM;
	}
	json_object *root = json_tokener_parse_ex(tok, text, (int)len);
	bool ok = root && json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	if (!ok || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		snprintf(msg, msg_len, "not a JSON object");
		return -EINVAL;
	}
	json_object_object_add(root, "id", json_object_new_int(0));
	const char *line =
	    json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	const char *code =
	    bd_request_parse(line, strlen(line), &req, &id, msg, msg_len);
	json_object_put(root);
	if (code)
		return -EINVAL;
	if (req.method != BD_M_REGISTER && req.method != BD_M_UNREGISTER &&
	    req.method != BD_M_ROLE) {
		snprintf(msg, msg_len,
			 "not a register, unregister or role request");
		json_object_put(req.root);
		return -EINVAL;
	}
	*method = req.method;
	*params = json_object_get(req.params);
	json_object_put(req.root);
	return 0;
}
