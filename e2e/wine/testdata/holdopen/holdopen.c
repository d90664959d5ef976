/* holdopen writes a file the way a back-office program on Windows does:
 * it opens it, writes it slowly a line at a time, and keeps it open until
 * told to close it.
 *
 *   holdopen none|all SRC DST READY RELEASE
 *
 * copies SRC to DST, creates READY once everything is written, waits
 * until RELEASE exists, then closes DST. "none" opens DST with no
 * sharing: no other program can open, rename or delete it meanwhile.
 * "all" shares read, write and delete, as some programs do: then the
 * file can be renamed under its writer, and only an exclusive open tells
 * that it is still being written. Paths are Windows paths and may hold
 * any Unicode letters (wmain). */
#include <windows.h>
#include <stdio.h>

static int fail(const char *what)
{
	fprintf(stderr, "holdopen: %s: error %lu\n", what, GetLastError());
	return 1;
}

int wmain(int argc, wchar_t **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: holdopen none|all SRC DST READY RELEASE\n");
		return 2;
	}
	DWORD share = 0;
	if (lstrcmpW(argv[1], L"all") == 0)
		share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
	argv++;
	HANDLE src = CreateFileW(argv[1], GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
	if (src == INVALID_HANDLE_VALUE)
		return fail("open SRC");
	static char buf[1 << 16];
	DWORD n = 0;
	if (!ReadFile(src, buf, sizeof buf, &n, NULL))
		return fail("read SRC");
	CloseHandle(src);

	HANDLE dst = CreateFileW(argv[2], GENERIC_WRITE, share, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
	if (dst == INVALID_HANDLE_VALUE)
		return fail("create DST");
	DWORD start = 0;
	for (DWORD i = 0; i < n; i++) {
		if (buf[i] != '\n' && i != n - 1)
			continue;
		DWORD w;
		if (!WriteFile(dst, buf + start, i + 1 - start, &w, NULL))
			return fail("write DST");
		FlushFileBuffers(dst);
		start = i + 1;
		Sleep(100); /* a slow writer: a line at a time */
	}
	HANDLE ready = CreateFileW(argv[3], GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	if (ready == INVALID_HANDLE_VALUE)
		return fail("create READY");
	CloseHandle(ready);
	while (GetFileAttributesW(argv[4]) == INVALID_FILE_ATTRIBUTES)
		Sleep(20);
	if (!CloseHandle(dst))
		return fail("close DST");
	return 0;
}
