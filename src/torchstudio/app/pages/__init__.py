"""The browser pages: thin layouts over the services in `torchstudio.app`."""
