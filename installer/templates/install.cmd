@echo off
rem retention-agent: silent installation (${mode} mode) for GPO, Intune or a deployment tool.
rem ${who}
rem Keep this script next to the .xml files it registers. Exit code 0 when done, 1 when a step failed.
setlocal EnableExtensions DisableDelayedExpansion
chcp 65001 >nul
${admin_check}
${steps}
echo retention-agent: installed (${mode} mode).
exit /b 0

:failed
set "RC=%errorlevel%"
echo retention-agent: installation stopped: the step above failed with exit code %RC%. 1>&2
exit /b 1
