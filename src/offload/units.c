/* units: size and time parsing for offload (see units.h). */
#include "offload/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bl_parse_bytes(const char *s, uint64_t *out, bl_err *err)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return bl_fail(err, "size '%s': expected a number like 64M or 1G", s);
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && *end == 'i')
        end++;
    if (*end == 'B')
        end++;
    if (errno || *end || (shift && v > (UINT64_MAX >> shift)))
        return bl_fail(err, "size '%s': expected a number like 64M or 1G", s);
    *out = (uint64_t)v << shift;
    return 0;
}

int bl_parse_when(const char *s, time_t now, double *out, bl_err *err)
{
    char *end;
    if (s[0] >= '0' && s[0] <= '9' && strchr(s, '/')) {
        /* the paper's job-script form, M/D/YYYY:HH:MM[:SS], UTC */
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *p = strptime(s, "%m/%d/%Y:%H:%M", &tm);
        if (p && *p == ':')
            p = strptime(p, ":%S", &tm);
        if (!p || *p)
            return bl_fail(err, "time '%s': expected M/D/YYYY:HH:MM[:SS] (UTC)", s);
        *out = (double)timegm(&tm);
        return 0;
    }
    if (s[0] == '+' || (s[0] >= '0' && s[0] <= '9' && !strchr(s, '-'))) {
        errno = 0;
        double v = strtod(s + (s[0] == '+'), &end);
        double mul = 1;
        if (*end == 's')
            end++;
        else if (*end == 'm')
            mul = 60, end++;
        else if (*end == 'h')
            mul = 3600, end++;
        if (errno || end == s || *end || v < 0)
            return bl_fail(err, "time '%s': expected +SECONDS, 10m, 2h, @EPOCH or YYYY-MM-DDTHH:MM[:SS]Z", s);
        *out = (double)now + v * mul;
        return 0;
    }
    if (s[0] == '@') {
        errno = 0;
        double v = strtod(s + 1, &end);
        if (errno || end == s + 1 || *end)
            return bl_fail(err, "time '%s': expected @EPOCH_SECONDS", s);
        *out = v;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M", &tm);
    if (p && *p == ':')
        p = strptime(p, ":%S", &tm);
    if (p && *p == 'Z')
        p++;
    if (!p || *p)
        return bl_fail(err, "time '%s': expected +SECONDS, 10m, 2h, @EPOCH, YYYY-MM-DDTHH:MM[:SS]Z or M/D/YYYY:HH:MM (UTC)", s);
    *out = (double)timegm(&tm);
    return 0;
}
