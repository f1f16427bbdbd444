/*
 * banned.h — libc calls mas does not use, stopped at compile time (as git
 * does).  Each has a bounded or reentrant replacement: snprintf for sprintf,
 * memcpy with a known length for strcpy/strcat, strtok_r for strtok,
 * gmtime_r/localtime_r for gmtime/localtime.
 */
#ifndef MAS_BANNED_H
#define MAS_BANNED_H

#define MAS_BANNED(func) sorry_##func##_is_banned_in_mas

#undef strcpy
#define strcpy(x, y) MAS_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MAS_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) MAS_BANNED(strncpy)
#undef sprintf
#define sprintf(...) MAS_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) MAS_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) MAS_BANNED(strtok)
#undef gmtime
#define gmtime(t) MAS_BANNED(gmtime)
#undef localtime
#define localtime(t) MAS_BANNED(localtime)
#undef gets
#define gets(x) MAS_BANNED(gets)

#endif
