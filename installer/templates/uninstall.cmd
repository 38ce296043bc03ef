@echo off
rem retention-agent: silent uninstallation (${mode} mode) for GPO, Intune or a deployment tool.
rem Usage: uninstall.cmd [--purge] or uninstall.cmd [--keep-home]
rem Only the agent knows whether its vault still holds deliveries, so this script hands over to
rem "retention-agent service uninstall". That refuses (exit code 1) while deliveries remain, unless
rem --purge (purge them first, with deletion proofs) or --keep-home (leave the home for a reinstall).
rem It then runs these commands:
${steps}
setlocal EnableExtensions DisableDelayedExpansion
chcp 65001 >nul
${admin_check}
${uninstall}
exit /b %errorlevel%
