/* fuzz-doctor.c: balloonctl doctor's parsers (a meminfo field, a kstat
 * row, a lone number, /proc/swaps) and its decoder of balloond's status
 * on arbitrary bytes. The input is copied to a buffer of exactly its size,
 * so that reading one byte past it is caught (the parsers take a length,
 * not a NUL). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/doctor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	uint64_t v;
	if (doctor_parse_meminfo_field(text, size, "MemTotal", &v) != 0 && v)
		abort();
	if (doctor_parse_kstat_row(text, size, "c_max", &v) != 0 && v)
		abort();
	if (doctor_parse_number(text, size, &v) != 0 && v)
		abort();
	struct doctor_swap sw[4];
	size_t n = 99;
	int rc = doctor_parse_swaps(text, size, sw, 4, &n);
	if (n > 4)
		abort();
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (strlen(sw[i].device) >= sizeof(sw[i].device))
			abort();
	if (doctor_parse_stat_starttime(text, size, &v) != 0 && v)
		abort();
	if (doctor_parse_btime(text, size, &v) != 0 && v)
		abort();
	char *path = malloc(size + 1);
	if (path) {
		memcpy(path, data, size);
		path[size] = '\0';
		unsigned vmid = doctor_pve_vmid(path);
		if (vmid && (vmid < 100 || vmid > 999999999))
			abort();
		free(path);
	}
	/* The status decoder, on whatever JSON the bytes make. */
	json_tokener *tok = json_tokener_new();
	json_object *o =
	    tok ? json_tokener_parse_ex(tok, text, (int)(size & 0xffffff))
		: NULL;
	if (o) {
		static struct doctor_daemon d;
		doctor_decode_status(o, &d);
		char qom[64];
		if (doctor_find_balloon(o, "/machine/peripheral", qom,
					sizeof(qom)) &&
		    strncmp(qom, "/machine/peripheral/", 20) != 0)
			abort();
		if (!d.answered || d.n_guests > DOCTOR_MAX_GUESTS)
			abort();
		json_object_put(o);
	}
	if (tok)
		json_tokener_free(tok);
	free(text);
	return 0;
}
