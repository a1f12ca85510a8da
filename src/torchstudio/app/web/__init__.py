"""The web server: pages and routes, access control (token, password, Host, Origin), the heap."""
