/* fuzz-config.c: balloond.conf parsing (inih plus balloond's key table). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bd_conf conf;
	char err[512];
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	bd_conf_defaults(&conf);
	if (bd_conf_parse_string(&conf, "fuzz.conf", text, err, sizeof(err)) ==
	    0) {
		for (size_t i = 0; i < conf.n_clusters; i++)
			(void)bd_conf_cluster(&conf, conf.clusters[i].name);
	}
	free(text);
	return 0;
}
