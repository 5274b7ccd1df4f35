"""The panel: server-rendered pages served by the API process under ``/panel`` (docs/panel.md).

Adding a page: write a module here exposing ``routes: list[BaseRoute]`` (paths relative to
``/panel``) and, for a page of an app, ``nav: list[NavItem]``; add it to ``PAGE_MODULES`` in
``producer/panel/mount.py``. Handlers are wrapped by ``producer.panel.guard``::

    from producer.panel.guard import action, page
    from producer.panel.viewer import AppPage
    from producer.panel.templates import render

    @page("support")                                   # GET: signed in, member, role >= support
    async def logs(request: Request, ctx: AppPage) -> Response:
        ctx.app_id, ctx.app_key, ctx.role             # the app of the URL, the viewer's role
        return render(request, "logs.html", ctx, {"rows": rows})

    @action("developer")                               # POST: CSRF checked, role >= developer
    async def resend(request: Request, ctx: AppPage, form: FormData) -> Response:
        return redirect(ctx.url("logs"))

    routes = [Route("/apps/{app_key}/logs", logs, methods=["GET"]),
              Route("/apps/{app_key}/logs/resend", resend, methods=["POST"])]

The guard gives 404 for an app the viewer does not belong to (whatever the app exists), 403
for a role too low, 403 for a POST without the session's CSRF token, and sends a signed-out
viewer to the sign-in page. Every template extends ``base.html`` and puts
``{{ csrf_field() }}`` in each form. No inline script or style: the CSP forbids them.
"""
