/* control.h: the control API. D-Bus served with sd-bus on a private unix socket
 * (peer to peer, no bus daemon), every connection integrated in the libev loop.
 * Object /org/tend/Manager, interface org.tend.Manager1:
 *   ListServices() -> aa{sv}         GetService(s) -> a{sv}
 *   StartService(s) -> s             StopService(s) -> s
 *   RestartService(s) -> s           KillService(si)
 *   Reload()                         signal ServiceStateChanged(sss): name, state, reason
 * Start/Stop/Restart reply once the target state is reached (the reply carries
 * the state reached) or fail with org.tend.Error.Failed naming the service and
 * the reason; a call flagged no-reply-expected returns at once. Service dicts
 * hold Name s, State s, Pid u (0: none), Restarts u, Since t (realtime usec),
 * HasExit b, ExitCode i, ExitSignal i, Reason s, Type s, WantUp b, Output s
 * (the mode in effect: journal, file, console, null), LogPath s (the file
 * output goes to in file mode; rotated ones are LogPath.1 ...).
 * Reads are open to whoever can connect; changes need uid 0 or tendd's uid
 * (from SO_PEERCRED). A client that sends junk, vanishes or never reads is
 * dropped, never waited for. */
#pragma once

#include "manager.h"

/* ListServicesCompact() -> a(ssuutbiissbsiss): per service Name, State, Pid,
 * Restarts, Since, HasExit, ExitCode, ExitSignal, Reason, Type, WantUp, Status,
 * NotifyErrno, Output, LogPath; the ListServices fields as fixed structs. */
#define CONTROL_COMPACT_SIGNATURE "(ssuutbiissbsiss)"

#define CONTROL_INTERFACE "org.tend.Manager1"
#define CONTROL_PATH "/org/tend/Manager"
#define CONTROL_ERROR_FAILED "org.tend.Error.Failed"
#define CONTROL_ERROR_NO_SUCH_SERVICE "org.tend.Error.NoSuchService"
#define CONTROL_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define CONTROL_ERROR_INVALID_CONFIG "org.tend.Error.InvalidConfig"

struct control;

/* Bind and listen on path (parent directory created 0755, stale socket
 * replaced, mode/group applied) and install the manager's state hook. */
int control_new(struct manager *m, const char *path, mode_t mode, const char *group,
                struct control **ret);
/* Closes every connection and unlinks the socket. NULL-safe. */
struct control *control_free(struct control *c);

/* What a pending Start/Stop/Restart call waits for. */
enum control_op { CONTROL_OP_START, CONTROL_OP_STOP, CONTROL_OP_RESTART, _CONTROL_OP_MAX };
enum control_verdict { CONTROL_WAIT, CONTROL_DONE, CONTROL_FAIL };

/* Decide a pending call from the service's current fields alone (state,
 * restart_on_exit, last exit, type): answered, failed, or keep waiting. */
enum control_verdict control_evaluate(enum control_op op, const struct service *s);
