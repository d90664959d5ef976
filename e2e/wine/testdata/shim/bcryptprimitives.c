/* Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8.0
 * lacks: Go >= 1.22 Windows binaries take their random bytes from its
 * ProcessPrng and die in runtime.osinit without it. It forwards to
 * BCryptGenRandom with the system-preferred generator, which Wine has.
 * Built by the Wine lane's tests into their own Wine prefix; never
 * shipped (the .msi installs tezgah.exe only). */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
