#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/natrelay.h"

static void test_lines(void **state)
{
	enum natrelay_line_kind k;
	int port;
	char out[NATRELAY_LINE_MAX];
	(void)state;
	assert_int_equal(natrelay_line_parse("[PORT] 34705\n[NEW] 41135\n", 25, &k, &port), 13);
	assert_int_equal(k, NATRELAY_PORT);
	assert_int_equal(port, 34705);
	assert_int_equal(natrelay_line_parse("[NEW] 41135\n", 12, &k, &port), 12);
	assert_int_equal(k, NATRELAY_NEW);
	assert_int_equal(port, 41135);
	assert_int_equal(natrelay_line_parse("[NEW] 1\r\n", 9, &k, &port), 9);
	assert_int_equal(natrelay_line_parse("[NEW] 41", 8, &k, &port), 0);
	assert_int_equal(natrelay_line_write(out, sizeof out, NATRELAY_NEW, 41135), 12);
	assert_string_equal(out, "[NEW] 41135\n");
	assert_int_equal(natrelay_line_write(out, sizeof out, NATRELAY_PORT, 0), -1);
}

static void test_rejects(void **state)
{
	static const char *bad[] = { "[NEW]\n", "[NEW] \n", "[NEW] 0\n", "[NEW] 012\n", "[NEW] 65536\n",
				     "[NEW] 1a\n", "[OLD] 1\n", "NEW 1\n", "[new] 1\n", "\n",
				     "[NEW] 111111111111111111111111111111\n" };
	enum natrelay_line_kind k;
	int port;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (natrelay_line_parse(bad[i], strlen(bad[i]), &k, &port) != -1)
			fail_msg("accepted: %s", bad[i]);
	char junk[64];
	memset(junk, 'x', sizeof junk);
	assert_int_equal(natrelay_line_parse(junk, sizeof junk, &k, &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_lines), cmocka_unit_test(test_rejects) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
