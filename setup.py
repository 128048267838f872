"""setuptools entry point; the project's metadata and dependencies live in pyproject.toml.

``pip install .`` (the plain-Python core and the ``reactface`` command) reads pyproject.toml;
this file lets tools that still call ``setup.py`` (``python setup.py --version``, older pip
and IDE integrations) see the same project. The ROS 2 package itself (messages, node
executables, launch files) is built by ``colcon`` from CMakeLists.txt and package.xml.
"""
from setuptools import setup

setup()
